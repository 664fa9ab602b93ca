"""experiments/cpu_profile.py's bookkeeping: exclusive times of nested profiler events, the HLO
instruction index, and the kinds (no compile: the profile itself is a benchmark, not a test)."""
import sys
from types import SimpleNamespace

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
    assert index["select_fusion"] == ("fusion", "jit(f)/jvp(NB101Net)/select_n")
    assert index["while.7"] == ("while", "")
    assert cpu_profile.kind_of(*index["conv_general_dilated.3"]) == "convolution (backward)"
    assert cpu_profile.kind_of(*index["select_fusion"]) == "masks and selects"
    assert cpu_profile.kind_of(*index["while.7"]) == "control flow (own dispatch)"
    assert cpu_profile.kind_of("fusion", "a/checkpoint/rematted_computation/conv_general_dilated") == \
        "convolution (recomputed)"


def test_short_paths_keep_the_module_scope_and_op():
    path = "jit(run)/while/body/closed_call/transpose(jvp(NB101Net))/while/body/stack0/cell/cond/branch_0_fun/mul"
    assert cpu_profile._short(path) == "stack0/cell/branch_0_fun/mul"
