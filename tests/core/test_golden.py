"""Pinned scores of a few architectures per space (tests/golden.py). A change that moves a
score must bump SCORING_VERSION (eproxy_jax/version.py: results files of the old numerics are
then never resumed into) and regenerate the file with `python tests/make_golden.py`."""
import json
import warnings

import numpy as np
import pytest

import golden
from eproxy_jax.version import SCORING_VERSION

PINNED = json.loads(golden.GOLDEN.read_text())


def test_the_file_pins_known_spaces_at_this_scoring_version():
    assert PINNED["spaces"] and set(PINNED["spaces"]) <= set(golden.cases()) and PINNED["setting"] == golden.SETTING
    assert PINNED["scoring_version"] == SCORING_VERSION, (
        f"tests/data/golden_scores.json holds SCORING_VERSION {PINNED['scoring_version']}, the code says "
        f"{SCORING_VERSION}: regenerate it with `python tests/make_golden.py`")


@pytest.mark.parametrize("name", sorted(golden.cases()))
def test_golden_scores(name):
    if name not in PINNED["spaces"]:
        pytest.skip(f"{name} is not pinned yet: run `python tests/make_golden.py {name}`")
    want = PINNED["spaces"][name]
    got = golden.compute(name)
    assert got["options"] == want["options"] and got["archs"] == want["archs"], "the golden cases changed: regenerate"
    assert got["programs"] == 1
    machine = golden.machine_class()
    ref, rtol, own = golden.tolerance(want, machine)
    if not np.all(np.abs(np.asarray(got["scores"]) / np.asarray(ref) - 1) <= rtol):
        where = ("this machine class's pinned scores" if own else
                 f"scores pinned on another machine class (none for this one: {machine})")
        pytest.fail(f"{name}: scores moved from {ref} to {got['scores']} (rtol {rtol.max():.0e}, against {where}). "
                    f"If the change is intended, bump SCORING_VERSION in eproxy_jax/version.py (now {SCORING_VERSION}) "
                    "and run `python tests/make_golden.py`; if not, it is a regression.")
    if not own:
        warnings.warn(f"{name}: no golden scores pinned for this machine class ({machine}); checked at rtol "
                      f"{rtol.max():.0e} against another class's. `python tests/make_golden.py --this-machine` pins it.")


@pytest.mark.parametrize("machine,own", [("jaxlib 9.9, x86_64, avx avx2", True), ("jaxlib 9.9, x86_64, avx", False)])
def test_tolerance_is_tight_on_a_pinned_machine_class_and_portable_elsewhere(machine, own):
    entry = {"scores": [1.0, 2.0], "machine": "jaxlib 9.9, x86_64, sse4_2", "ulp_noise": [1e-5, 1e-2],
             "by_machine": {"jaxlib 9.9, x86_64, avx avx2": [1.001, 2.001]}}
    ref, rtol, mine = golden.tolerance(entry, machine)
    assert mine is own
    if own:
        assert ref == [1.001, 2.001] and list(rtol) == [golden.RTOL] * 2
    else:      # the first pinned scores; a case that amplifies one ulp to 1e-2 gets 3e-2
        assert ref == [1.0, 2.0] and list(rtol) == [golden.PORTABLE_RTOL, golden.ULP_FACTOR * 1e-2]
    assert golden.tolerance(entry, entry["machine"])[1].tolist() == [golden.RTOL] * 2


def test_machine_class_names_the_jaxlib_and_the_instruction_sets():
    import platform

    import jaxlib
    m = golden.machine_class()
    assert m.startswith(f"jaxlib {jaxlib.__version__}, {platform.machine()}, ") and m == golden.machine_class()


def test_make_golden_refuses_an_unknown_case(capsys):
    import make_golden
    assert make_golden.main(["nb999"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown golden case" in err and "\n" not in err
