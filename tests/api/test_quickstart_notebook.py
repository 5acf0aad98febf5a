"""``examples/quickstart.ipynb`` runs from top to bottom in a fresh kernel (nbclient): the
tiny test checkpoint through ``CHGGEN_CHECKPOINT`` and ``CHGGEN_FAST=1`` (a few noise
levels and relaxation steps), real CHGNet and the offline hull; nothing is mocked."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"


def _text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts += [str(v) for k, v in output.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


def test_quickstart_notebook_runs(tmp_path, checkpoint, monkeypatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("CHGGEN_CHECKPOINT", checkpoint)
    monkeypatch.setenv("CHGGEN_FAST", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    shown = "\n".join(_text(cell) for cell in code)
    assert "<b>chggen.Results</b>" in shown and "E_d (eV/atom)" in shown  # HTML tables
    assert "inpaint" in _text(code[5]) and "user:" not in _text(code[5])
    assert "HostError" not in shown and "Traceback" not in shown
    assert _text(code[-1]).startswith("InputError: formula 'Li2Xq': 'Xq' is not a chemical")
    written = tmp_path / "quickstart_output"
    assert any((written / "li2si").glob("part-*.parquet"))
    assert (written / "cif" / "manifest.csv").is_file() and (written / "best.extxyz").is_file()
