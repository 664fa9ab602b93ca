"""experiments/cpu_profile.py's bookkeeping: exclusive times of nested profiler events, the HLO
instruction index, and the kinds (no compile: the profile itself is a benchmark, not a test)."""
import sys
from types import SimpleNamespace

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import cpu_profile  # noqa: E402


def _ev(name, start, dur):
    return SimpleNamespace(name=name, start_ns=start, duration_ns=dur)


def test_exclusive_times_subtract_nested_events_only():
    # while [0, 100) holds conv [10, 40) and cond [50, 90), which holds fusion [60, 70); then dot [100, 120)
    events = [_ev("fusion", 60, 10), _ev("while", 0, 100), _ev("conv", 10, 30), _ev("cond", 50, 40),
              _ev("dot", 100, 20)]
    got = cpu_profile.exclusive_times(events)
    assert got == {"while": 100 - 30 - 40, "conv": 30, "cond": 40 - 10, "fusion": 10, "dot": 20}


def test_hlo_index_and_kinds():
    hlo = """
  %conv_general_dilated.3 = f32[16,8,8,32]{3,2,1,0} convolution(f32[16,8,8,32]{3,2,1,0} %p, f32[3,3,32,32]{3,2,1,0} %w), window={size=3x3 pad=1_1x1_1}, dim_labels=b01f_01io->b01f, metadata={op_name="jit(f)/while/body/transpose(jvp(NB101Net))/conv_general_dilated" source_file="x.py" source_line=3}
  ROOT %select_fusion = f32[16]{0} fusion(f32[16]{0} %a), kind=kLoop, calls=%fused, metadata={op_name="jit(f)/jvp(NB101Net)/select_n"}
  %while.7 = (s32[]) while((s32[]) %t), condition=%c, body=%b
"""
    index = cpu_profile.hlo_index([hlo])
    assert index["conv_general_dilated.3"][0] == "convolution"
    assert index["select_fusion"] == ("fusion", "jit(f)/jvp(NB101Net)/select_n", "")
    assert index["while.7"] == ("while", "", "")
    assert cpu_profile.kind_of(*index["conv_general_dilated.3"]) == "convolution 3x3 (backward)"
    assert cpu_profile.kind_of(*index["select_fusion"]) == "masks and selects"
    assert cpu_profile.kind_of(*index["while.7"]) == "control flow (own dispatch)"
    assert cpu_profile.kind_of("fusion", "a/checkpoint/rematted_computation/conv_general_dilated") == \
        "convolution (recomputed)"


def test_a_fused_convolution_takes_its_computations_kernel_size():
    hlo = """
%fused_computation.38 (param_0: f32[16,8,8,4], param_1: f32[1,1,4,8]) -> f32[16,8,8,8] {
  %param_0 = f32[16,8,8,4]{3,2,1,0} parameter(0)
  %convolution.1 = f32[16,8,8,8]{3,2,1,0} convolution(%param_0, %param_1), window={size=1x1}, dim_labels=b01f_01io->b01f
}

ENTRY %main.9 (p: f32[16,8,8,4]) -> f32[16,8,8,8] {
  %ynn_fusion.38 = f32[16,8,8,8]{3,2,1,0} fusion(%p, %w), kind=kCustom, calls=%fused_computation.38, metadata={op_name="jit(f)/jvp(NB101Net)/conv_general_dilated"}
  ROOT %add.2 = f32[16,8,8,8]{3,2,1,0} add(%ynn_fusion.38, %ynn_fusion.38), metadata={op_name="jit(f)/jvp(NB101Net)/add"}
}
"""
    index = cpu_profile.hlo_index([hlo])
    assert index["ynn_fusion.38"] == ("fusion", "jit(f)/jvp(NB101Net)/conv_general_dilated", "1x1")
    assert index["add.2"][2] == ""
    assert cpu_profile.kind_of(*index["ynn_fusion.38"]) == "convolution 1x1 (forward)"


def test_short_paths_keep_the_module_scope_and_op():
    path = "jit(run)/while/body/closed_call/transpose(jvp(NB101Net))/while/body/stack0/cell/cond/branch_0_fun/mul"
    assert cpu_profile._short(path) == "stack0/cell/branch_0_fun/mul"


@pytest.mark.parametrize("argv,says", [
    (["nb201", "--bucket", "2", "--limit", "2"], "bucket"),          # a space without buckets
    (["nb101", "--bucket", "2", "--dataset", "cifar10"], "--dataset"),  # --bucket draws from the default table
])
def test_bucket_mistakes_are_one_line_exit_2(argv, says, capsys):
    with pytest.raises(SystemExit) as e:
        cpu_profile.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]


def test_untraced_time_is_flagged():
    assert cpu_profile.untraced_note(10_456.0, 4_630.0).startswith("# note: the traced ops add up to 44 %")
    assert cpu_profile.untraced_note(1_000.0, 1_500.0) is None      # both cores busy, all traced
    assert cpu_profile.untraced_note(1_000.0, 750.0) is None
    assert cpu_profile.untraced_note(0.0, 0.0) is None
