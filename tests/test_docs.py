"""The Python examples in README.md and docs/ run as written."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [(page, i, code) for page in PAGES
          for i, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))]


@pytest.mark.parametrize("page,index,code", BLOCKS,
                         ids=[f"{p.name}#{i}" for p, i, _ in BLOCKS])
def test_example_runs(page, index, code, capsys):
    exec(compile(code, f"{page.name}#{index}", "exec"), {})


def test_printed_graph_in_docs_is_current(capsys):
    """The graph shown in docs/hybridize.md is what the code prints today."""
    page = (ROOT / "docs" / "hybridize.md").read_text()
    shown = re.search(r"```text\n(.*?)```", page, re.S).group(1).strip()
    code = re.findall(r"```python\n(.*?)```", page, re.S)[0]
    exec(compile(code, "hybridize.md#0", "exec"), {})
    assert shown in capsys.readouterr().out


@pytest.mark.parametrize("code_index,text_index", [(1, 1), (2, 2)])
def test_printed_gradient_graphs_in_docs_are_current(code_index, text_index, capsys):
    page = (ROOT / "docs" / "autograd.md").read_text()
    shown = re.findall(r"```text\n(.*?)```", page, re.S)[text_index].strip()
    code = re.findall(r"```python\n(.*?)```", page, re.S)[code_index]
    exec(compile(code, f"autograd.md#{code_index}", "exec"), {})
    assert shown in capsys.readouterr().out
