"""notebooks/explore.ipynb runs top to bottom (tiny sizes) and leaves its figures behind."""
import shutil

import pytest

from conftest import ROOT

nbformat = pytest.importorskip("nbformat", reason="the [test] extra installs nbformat/nbclient/ipykernel")
nbclient = pytest.importorskip("nbclient")


def test_explore_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("EPROXY_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    src = tmp_path / "explore.ipynb"
    shutil.copy(ROOT / "notebooks" / "explore.ipynb", src)
    nb = nbformat.read(src, as_version=4)
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "12 cells: Spearman" in text and "held-out Spearman" in text and "best by the proxy: |" in text
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) == 2                         # the scatter plot and the cell drawing
    assert (tmp_path / "best_cell.png").read_bytes()[:4] == b"\x89PNG"
