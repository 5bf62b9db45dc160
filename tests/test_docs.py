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


@pytest.mark.parametrize("page,code_index,text_index", [
    ("hybridize.md", 0, 0), ("autograd.md", 1, 1), ("autograd.md", 2, 2),
    ("hybridize-traps.md", 0, 0)])
def test_printed_output_in_docs_is_current(page, code_index, text_index, capsys):
    """A ```text block that shows what a ```python block prints is what it prints today."""
    text = (ROOT / "docs" / page).read_text()
    shown = re.findall(r"```text\n(.*?)```", text, re.S)[text_index].strip()
    code = re.findall(r"```python\n(.*?)```", text, re.S)[code_index]
    exec(compile(code, f"{page}#{code_index}", "exec"), {})
    assert shown in capsys.readouterr().out


def test_tracing_error_in_docs_is_what_users_see(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "hybridize-traps.md").read_text()
    shown = " ".join(re.findall(r"```text\n(.*?)```", text, re.S)[1].split())
    code = re.findall(r"```python\n(.*?)```", text, re.S)[2]
    block = code[:code.index("block = Branchy()")]
    (tmp_path / "my_loss.py").write_text(block)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import minigluon as mg
    module = importlib.import_module("my_loss")
    b = module.Branchy()
    b.hybridize()
    with pytest.raises(mg.base.TracingError) as info:
        b(mg.nd.ones((2, 2)))
    assert " ".join(str(info.value).split()) == shown.replace("my_loss.py", str(tmp_path / "my_loss.py"))
