"""The Python examples in README.md and docs/ run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNABLE = ["README.md", "docs/pyro_scripts.md", "docs/methods/infogan.md"]


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("name", RUNNABLE)
def test_examples_run(name, monkeypatch):
    blocks = _python_blocks(ROOT / name)
    assert blocks, f"{name} has no python example"
    for code in blocks:
        if "from pyrodisent import Regularizer, hookimpl" in code and "class MeanL2" in code:
            namespace: dict = {}
            exec(compile(code, name, "exec"), namespace)  # the plugin example defines, registers nothing
            assert namespace["pyrodisent_regularizers"]()["mean_l2"] is namespace["MeanL2"]
            continue
        exec(compile(code, name, "exec"), {"__name__": "__doc_example__"})


def test_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first = re.search(r"```bash\n(.*?)```", text, flags=re.DOTALL).group(1).splitlines()
    assert first[0].startswith("pip install -e . && pyrodisent train")
    # the second command installs what the tests need: it works in a fresh environment
    test_command = first[1].split("#")[0].strip()
    assert test_command == 'pip install -e ".[test]" && python -m pytest -q'
    assert test_command in (ROOT / ".ci" / "run").read_text()
