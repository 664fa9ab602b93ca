"""Pinned scores of a few architectures per space (tests/golden.py). A change that moves a
score must bump SCORING_VERSION (eproxy_jax/version.py: results files of the old numerics are
then never resumed into) and regenerate the file with `python tests/make_golden.py`."""
import json

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
    if not np.allclose(got["scores"], want["scores"], rtol=golden.RTOL, atol=0):
        pytest.fail(f"{name}: scores moved from {want['scores']} to {got['scores']} (rtol {golden.RTOL}). If the "
                    f"change is intended, bump SCORING_VERSION in eproxy_jax/version.py (now {SCORING_VERSION}) "
                    "and run `python tests/make_golden.py`; if not, it is a regression.")
