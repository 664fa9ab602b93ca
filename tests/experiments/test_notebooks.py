"""Both notebooks run top to bottom (tiny sizes); explore.ipynb leaves its figures behind."""
import shutil

import pytest

from conftest import ROOT

nbformat = pytest.importorskip("nbformat", reason="the [test] extra installs nbformat/nbclient/ipykernel")
nbclient = pytest.importorskip("nbclient")


def _execute(name, tmp_path, monkeypatch):
    """Run notebooks/NAME in tmp_path; its outputs and printed text."""
    monkeypatch.setenv("EPROXY_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    src = tmp_path / name
    shutil.copy(ROOT / "notebooks" / name, src)
    nb = nbformat.read(src, as_version=4)
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors[0].get("evalue")
    return outputs, "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    outputs, text = _execute("quickstart.ipynb", tmp_path, monkeypatch)
    assert "spearman" in text and "dead cells (ranked last)" in text
    last = text.strip().splitlines()[-1]            # the custom setting's scores of four cells
    assert last.startswith("[") and last.endswith("]")
    assert len([float(x) for x in last[1:-1].split()]) == 4
    assert [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]


def test_explore_notebook_executes(tmp_path, monkeypatch):
    outputs, text = _execute("explore.ipynb", tmp_path, monkeypatch)
    assert "12 cells: Spearman" in text and "held-out Spearman" in text and "best by the proxy: |" in text
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) == 2                         # the scatter plot and the cell drawing
    assert (tmp_path / "best_cell.png").read_bytes()[:4] == b"\x89PNG"
