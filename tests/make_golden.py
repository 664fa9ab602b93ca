"""Regenerate tests/data/golden_scores.json (run after bumping SCORING_VERSION):

    python tests/make_golden.py            # every space
    python tests/make_golden.py nb201 ...  # just these (the others keep their pinned scores)
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


def main(names) -> int:
    old = json.loads(golden.GOLDEN.read_text()) if golden.GOLDEN.exists() else {"spaces": {}}
    spaces = old["spaces"] if names else {}
    for name in names or list(golden.cases()):
        spaces[name] = golden.compute(name)
        print(f"{name}: {spaces[name]['scores']}", file=sys.stderr, flush=True)
        data = {"scoring_version": SCORING_VERSION, "setting": golden.SETTING, "seed": 0, "images": "bundled",
                "spaces": spaces}
        golden.GOLDEN.write_text(json.dumps(data, indent=1) + "\n")     # after each space: minutes each
    print(f"wrote {golden.GOLDEN} (SCORING_VERSION {SCORING_VERSION})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
