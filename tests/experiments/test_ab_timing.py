"""experiments/ab_timing.py's argument handling and score comparison (no compile: its runs are
benchmarks, not tests; the switch it times is tested in tests/nn/test_ops.py)."""
import math
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import ab_timing  # noqa: E402


def test_variants_parse_and_label():
    got = ab_timing.parse_variants("bn_backward=autodiff,bn_backward=custom+conv_impl=im2col")
    assert got == [{"bn_backward": "autodiff"}, {"bn_backward": "custom", "conv_impl": "im2col"}]
    assert [ab_timing.label(v) for v in got] == ["bn_backward=autodiff", "bn_backward=custom+conv_impl=im2col"]
    assert ab_timing.parse_variants("scan_unroll=loop,scan_unroll=full") == [{"scan_unroll": "loop"},
                                                                              {"scan_unroll": "full"}]


@pytest.mark.parametrize("text,msg", [("bn_backward=custom", "at least two"), ("bn=custom,bn=autodiff", "KEY=VALUE"),
                                      ("bn_backward=fused,bn_backward=custom", "must be one of"),
                                      ("conv_impl,conv_impl=xla", "KEY=VALUE")])
def test_bad_variants_exit_2_with_one_line(text, msg, capsys):
    with pytest.raises(SystemExit) as e:
        ab_timing.main(["nb201", "--variants", text])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and "\n" not in err and err.startswith("ab_timing.py:")


def test_unknown_space_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        ab_timing.main(["nb999", "--variants", "bn_backward=custom,bn_backward=autodiff"])
    assert e.value.code == 2 and "nb999" in capsys.readouterr().err


def test_a_default_setting_the_network_cannot_take_exits_2(capsys):
    with pytest.raises(SystemExit) as e:     # one stack: one feature map for the default's 3 branches
        ab_timing.main(["nb101", "--variants", "bn_backward=custom,bn_backward=autodiff", "--space-option", "stacks=1"])
    assert e.value.code == 2 and "branches" in capsys.readouterr().err


def test_max_rel_diff_skips_non_finite_and_zero():
    assert math.isclose(ab_timing.max_rel_diff([1.0, 2.0, float("inf"), 0.0], [1.001, 1.99, float("inf"), 5.0]),
                        0.005, rel_tol=1e-9)
    assert ab_timing.max_rel_diff([float("nan")], [1.0]) is None
