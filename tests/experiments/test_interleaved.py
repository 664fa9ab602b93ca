"""experiments/interleaved.py: the engines' order rotates, every architecture is scored alone by
every engine each round, and the summary compares with the base (fake engines and a fake clock:
no compile)."""
import sys

import numpy as np

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import interleaved  # noqa: E402


class FakeEngine:
    """Scores `enc[0]` + `offset`; each call takes `cost[enc[0]]` ms of the shared fake clock."""

    def __init__(self, name, calls, clock, cost, offset=0.0):
        self.name, self.calls, self.clock, self.cost, self.offset = name, calls, clock, cost, offset

    def score(self, encs):
        assert encs.shape[0] == 1
        self.calls.append((self.name, int(encs[0, 0])))
        self.clock[0] += self.cost[int(encs[0, 0])] / 1000.0
        return np.array([[encs[0, 0] + self.offset]], np.float32)


def test_rotation_times_and_summary():
    calls, clock = [], [0.0]
    encs = np.arange(3, dtype=np.int32)[:, None]
    engines = {"a": FakeEngine("a", calls, clock, {0: 10, 1: 20, 2: 30}),
               "b": FakeEngine("b", calls, clock, {0: 5, 1: 25, 2: 15}, offset=0.5)}
    lines = []
    res = interleaved.interleave(engines, encs, reps=2, log=lines.append, clock=lambda: clock[0])
    # round 0: a b | b a | a b ; round 1: b a | a b | b a
    assert [c[0] for c in calls] == list("ab" "ba" "ab" "ba" "ab" "ba")
    assert [c[1] for c in calls] == [0, 0, 1, 1, 2, 2] * 2
    np.testing.assert_allclose(res["ms"]["a"], [[10, 10], [20, 20], [30, 30]])
    np.testing.assert_allclose(res["ms"]["b"], [[5, 5], [25, 25], [15, 15]])
    assert res["scores"]["b"] == [0.5, 1.5, 2.5]
    assert lines == ["round 0: a 20  b 15 ms/arch", "round 1: a 20  b 15 ms/arch"]
    out = interleaved.summary(res, "a")
    assert out[0] == "a: median 20 ms/arch, mean 20"
    assert out[1] == "b: median 15 ms/arch, mean 15"
    assert out[2].startswith("b faster than a on 2 of 3 architectures; largest score difference 0.5")
    table = interleaved.cell_table(res, "a", "b", [1, 2, 2])
    assert table[0] == "| cell | bucket | a ms | b ms | change | score a | score b |"
    assert table[2:] == ["| 0 | 1 | 10 | 5 | -50.0 % | 0 | 0.5 |", "| 1 | 2 | 20 | 25 | +25.0 % | 1 | 1.5 |",
                         "| 2 | 2 | 30 | 15 | -50.0 % | 2 | 2.5 |"]


def test_warm_compiles_every_bucket_once_per_engine():
    calls, clock = [], [0.0]
    encs = np.arange(5, dtype=np.int32)[:, None]
    engines = {n: FakeEngine(n, calls, clock, {i: 1 for i in range(5)}) for n in "ab"}
    for e in engines.values():
        e.compile_s = 2.5
    lines = []
    assert interleaved.warm(engines, encs, [3, 1, 3, 2, 1], log=lines.append) is engines
    assert calls == [("a", 0), ("a", 1), ("a", 3), ("b", 0), ("b", 1), ("b", 3)]   # first of each bucket
    assert lines == ["a: compiled 2.5 s", "b: compiled 2.5 s"]


def test_load_module_beside_the_current_one(tmp_path):
    path = tmp_path / "other.py"
    path.write_text("VALUE = 41 + 1\n")
    mod = interleaved.load_module(str(path), "interleaved_test_other")
    assert mod.VALUE == 42 and sys.modules["interleaved_test_other"] is mod
