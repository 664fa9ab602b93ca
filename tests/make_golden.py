"""Regenerate tests/data/golden_scores.json (run after bumping SCORING_VERSION):

    python tests/make_golden.py                     # every space
    python tests/make_golden.py nb201 ...           # just these (the others keep their pinned scores)
    python tests/make_golden.py --this-machine      # add this machine class's own scores (no bump)

A regeneration pins each space's scores with the machine class that computed them
(`golden.machine_class()`) and how far one ulp of input moves each case (`ulp_noise`, a second
compile), and drops other classes' scores (they were of the old numerics). `--this-machine`
leaves those alone and adds the scores this class computes at the same scoring version, so the
test checks this class at golden.RTOL instead of golden.PORTABLE_RTOL.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))          # tests/ (golden, test_nbmr)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))      # the checkout under test

import xla_flags  # noqa: E402

xla_flags.apply()   # the suite's XLA build (before jax is imported): the scores are checked under it
import golden  # noqa: E402
from eproxy_jax.version import SCORING_VERSION  # noqa: E402


def main(argv) -> int:
    this_machine = "--this-machine" in argv
    names = [a for a in argv if a != "--this-machine"]
    unknown = sorted(set(names) - set(golden.cases()))
    if unknown:
        print(f"make_golden.py: unknown golden case(s) {', '.join(unknown)}; known: {', '.join(golden.cases())}",
              file=sys.stderr)
        return 2
    old = json.loads(golden.GOLDEN.read_text()) if golden.GOLDEN.exists() else {"spaces": {}}
    if this_machine and old.get("scoring_version") != SCORING_VERSION:
        print(f"make_golden.py: the file holds SCORING_VERSION {old.get('scoring_version')}, the code "
              f"{SCORING_VERSION}: regenerate it first (without --this-machine)", file=sys.stderr)
        return 2
    machine = golden.machine_class()
    spaces = old["spaces"] if (names or this_machine) else {}
    for name in names or list(golden.cases()):
        got = golden.compute(name)
        if this_machine:
            if name not in spaces:
                print(f"{name}: not pinned yet, skipped (regenerate it first)", file=sys.stderr)
                continue
            spaces[name].setdefault("by_machine", {})[machine] = got["scores"]
        else:
            ulp = golden.compute(name, ulp=True)["scores"]
            got["ulp_noise"] = [abs(u / s - 1) for u, s in zip(ulp, got["scores"])]
            got["machine"] = machine
            spaces[name] = got
        print(f"{name}: {got['scores']}", file=sys.stderr, flush=True)
        data = {"scoring_version": SCORING_VERSION, "setting": golden.SETTING, "seed": 0, "images": "bundled",
                "spaces": spaces}
        golden.GOLDEN.write_text(json.dumps(data, indent=1) + "\n")     # after each space: minutes each
    print(f"wrote {golden.GOLDEN} (SCORING_VERSION {SCORING_VERSION}, machine class: {machine})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
