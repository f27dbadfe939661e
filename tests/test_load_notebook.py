"""notebooks/explore.ipynb runs top to bottom on a dataset built from the test corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from export_helpers import built_dataset

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "explore.ipynb"


@pytest.mark.parametrize("source", ["table", "hf"])
def test_explore_notebook_executes(corpus, tmp_path_factory, tmp_path, monkeypatch, source) -> None:
    import nbformat
    from nbclient import NotebookClient

    built = built_dataset(corpus, tmp_path_factory)
    dataset = built.out
    if source == "hf":
        dataset = built.hf_v1_before  # an exported repo (v1, audio embedded)
    monkeypatch.setenv("MIRSET_DATASET", str(dataset))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit it clean"
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    audio = [o for o in outputs if "<audio" in o.get("data", {}).get("text/html", "")]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    n_ok = 5 if source == "table" else 2
    assert f"{n_ok} tracks ok" in text
    assert len(audio) == min(3, n_ok) and len(images) >= 3 + len(audio)
    assert "tracks tagged `minor`" in markdown and "BPM" in markdown
