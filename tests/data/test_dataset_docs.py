"""The Python examples of docs/datasets.md run as written (in order, one namespace)."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "datasets.md"


def test_dataset_doc_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 4
    namespace = {"__name__": "__doc_example__"}
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - running the doc is the test
    printed = capsys.readouterr().out
    assert "46080 ['shape', 'scale', 'orientation', 'posX', 'posY'] [3, 6, 10, 16, 16]" in printed
    assert "4.15" in printed
    assert namespace["x"].shape == (256, 1, 64, 64)
    assert namespace["images"].shape == (1, 1, 64, 64)
