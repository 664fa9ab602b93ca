"""`ep.load_results(path).to_pandas()`: a results file as a DataFrame in one call (no compile:
the space is not built). Read from a committed results file (H200, 2026-12-04)."""
import sys

import numpy as np
import pytest

import eproxy_jax as ep
from conftest import ROOT

FILE = ROOT / "experiments" / "results" / "h200_2026-12-04_nb201_waves" / "ss1_default.csv.gz"


def test_a_results_file_loads_into_pandas_in_one_call():
    pd = pytest.importorskip("pandas")
    table = ep.load_results(FILE)
    df = table.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == len(table) == 1000
    assert list(df.columns) == table.columns and {"arch", "score", "truth"} <= set(df.columns)
    assert df["arch"].tolist() == table.archs
    np.testing.assert_array_equal(df["score"].to_numpy(), table.score)
    np.testing.assert_array_equal(df["truth"].to_numpy(), table.truth)
    assert df.attrs["meta"]["space"] == "nb201" and df.attrs["meta"]["seeds"] == [0, 1]
    assert df["score"].dtype == np.float64


def test_without_pandas_one_line_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)      # `import pandas` raises ImportError
    with pytest.raises(ImportError, match=r"needs pandas: pip install pandas") as e:
        ep.load_results(FILE).to_pandas()
    assert "\n" not in str(e.value)
