"""The code shown to users runs: the README's Python block and the quickstart page's blocks."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _readme_blocks():
    text = (REPO / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _rst_blocks(name):
    text = (REPO / "docs" / name).read_text()
    blocks = []
    for match in re.finditer(r"\.\. code-block:: python\n\n((?:(?:    .*)?\n)+)", text):
        lines = match.group(1).splitlines()
        blocks.append("\n".join(line[4:] for line in lines) + "\n")
    return blocks


def test_readme_has_a_python_example():
    assert len(_readme_blocks()) == 1


@pytest.mark.parametrize("source", ["README.md", "docs/quickstart.rst"])
def test_examples_run(source):
    blocks = _readme_blocks() if source == "README.md" else _rst_blocks("quickstart.rst")
    assert blocks, f"no Python example found in {source}"
    namespace = {}
    for block in blocks:  # the blocks of one page build on each other
        exec(compile(block, source, "exec"), namespace)
    if source == "README.md":
        assert namespace["search"].best_params_
        assert not namespace["pipe"][:-1].transform(namespace["X_missing"]).isna().any().any()
    else:
        completed = namespace["completed"]
        assert list(completed.columns) == list(namespace["X"].columns)
        assert not completed.isna().any().any()
