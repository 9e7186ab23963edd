"""Static and behavioural security checks over the whole ``audit`` package.

The AST checks fail CI when someone adds a shell string, pickle, eval/exec, an unsafe YAML or
NumPy load, or ``torch.load``. Each rule is also run on a snippet that breaks it, so a checker
that silently stops matching is itself caught.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

from audit.analysis.counts import parse_literal
from audit.data.download import local_name
from audit.report import html_table

PACKAGE = Path(__file__).resolve().parents[2] / "audit"
SOURCES = sorted(PACKAGE.rglob("*.py"))
BANNED_MODULES = {"pickle", "cPickle", "dill", "shelve", "marshal", "cloudpickle"}
BANNED_CALLS = {"os.system", "os.popen", "os.spawnl", "os.spawnlp", "os.execv", "os.execvp",
                "eval", "exec", "builtins.eval", "builtins.exec", "__import__", "compile",
                "torch.load", "yaml.load", "yaml.unsafe_load", "yaml.full_load",
                "yaml.load_all", "pd.read_pickle", "pandas.read_pickle", "joblib.load",
                "subprocess.getoutput", "subprocess.getstatusoutput"}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def violations(source: str, where: str = "<snippet>") -> list[str]:
    """Every banned construct in ``source`` as ``where:line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names]
            module = getattr(node, "module", None)
            for name in ([module] if module else []) + names:
                if name and name.split(".")[0] in BANNED_MODULES:
                    found.append(f"{where}:{line}: import {name}")
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        keywords = {k.arg: k.value for k in node.keywords}
        if name in BANNED_CALLS:
            found.append(f"{where}:{line}: call {name}")
        shell = keywords.get("shell")
        if shell is not None and not (isinstance(shell, ast.Constant) and shell.value is False):
            found.append(f"{where}:{line}: shell= other than False")
        if name in ("np.load", "numpy.load"):
            flag = keywords.get("allow_pickle")
            if not (isinstance(flag, ast.Constant) and flag.value is False):
                found.append(f"{where}:{line}: np.load without allow_pickle=False")
        if name is not None and name.endswith("subprocess.run") or name in (
                "subprocess.Popen", "subprocess.call", "subprocess.check_call",
                "subprocess.check_output"):
            if node.args and isinstance(node.args[0], ast.Constant | ast.JoinedStr | ast.BinOp):
                found.append(f"{where}:{line}: subprocess with a command string")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_module_has_no_banned_construct(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8"), str(path)) == []


def test_the_tree_is_actually_scanned() -> None:
    assert len(SOURCES) > 40
    assert PACKAGE / "data" / "download.py" in SOURCES


@pytest.mark.parametrize(("snippet", "what"), [
    ("import subprocess\nsubprocess.run('ls', shell=True)", "shell="),
    ("import subprocess\nsubprocess.run(cmd, shell=flag)", "shell="),
    ("subprocess.run('rm -rf x')", "command string"),
    ("subprocess.check_output(f'ls {d}')", "command string"),
    ("import os\nos.system('ls')", "os.system"),
    ("import os\nos.popen('ls')", "os.popen"),
    ("eval(text)", "eval"),
    ("exec(code)", "exec"),
    ("compile(src, 'f', 'exec')", "compile"),
    ("import pickle", "import pickle"),
    ("from pickle import loads", "import pickle"),
    ("import yaml\nyaml.load(s)", "yaml.load"),
    ("import yaml\nyaml.load(s, Loader=yaml.SafeLoader)", "yaml.load"),  # use safe_load
    ("import numpy as np\nnp.load(p)", "np.load without"),
    ("import numpy as np\nnp.load(p, allow_pickle=True)", "np.load without"),
    ("import torch\ntorch.load(p)", "torch.load"),
    ("import pandas as pd\npd.read_pickle(p)", "read_pickle"),
])
def test_checker_catches_each_rule(snippet: str, what: str) -> None:
    found = violations(snippet)
    assert found and any(what in v for v in found), found


@pytest.mark.parametrize("snippet", [
    "subprocess.run(['git', 'status'], shell=False)",
    "np.load(p, allow_pickle=False)",
    "yaml.safe_load(s)",
    "model.eval()",
    "re.compile('x')",
])
def test_checker_allows_safe_forms(snippet: str) -> None:
    assert violations(snippet) == []


# ----------------------------------------------------------------------------- hostile inputs
@pytest.mark.parametrize("text", [
    "().__class__.__bases__[0].__subclasses__()",
    "b'bytes'",
    "{1, 2}",
    "f'{__import__(\"os\")}'",
    "(x := 1)",
    "[*range(3)]",
    "array([1.0], *args)",
    "array(x for x in (1,))",
    "dict_keys(__import__('os'))",
    "{'a': array([1.0])}['a']",
    "'a' if True else 'b'",
    "{'a': ...}",
    "[" * 300 + "]" * 300,
    "1" * 5000,
])
def test_counts_parser_refuses_hostile_text(text: str) -> None:
    with pytest.raises(ValueError, match="refusing|not a Python literal|digits"):
        parse_literal(text, where="hostile.txt:1")


@pytest.mark.parametrize(("qid", "ext"), [
    ("../Q1", "jpg"), ("Q1/../../x", "jpg"), ("Q1", "jpg/../../x"), ("Q1", "sh"),
    ("Q0", "jpg"), ("Q1\x00", "jpg"), ("Q1", "php"), ("/etc/passwd", "jpg"), ("Q1", ""),
])
def test_local_names_never_come_from_network_strings(qid: str, ext: str) -> None:
    with pytest.raises(ValueError, match="refusing"):
        local_name(qid, ext)
    assert local_name("Q42", "JPG") == "Q42.jpg"


def test_html_tables_escape_every_cell() -> None:
    frame = pd.DataFrame({"<b>id</b>": ['<script>alert("x")</script>', "a&b"]})
    out = html_table(frame)
    assert "<script>" not in out and "<b>" not in out
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in out and "a&amp;b" in out


def test_download_writes_only_qid_named_files_whatever_the_network_says(httpserver, tmp_path):
    from audit.data.download import download_images
    from audit.data.settings import DownloadConfig
    from audit.http import make_session

    from .netfake import jpeg

    body = jpeg(3)
    httpserver.expect_request("/x/evil.sh").respond_with_data(body)
    people = pd.DataFrame([{
        "qid": "Q7", "image_file": "../../evil.sh", "exists": True,
        "download_url": httpserver.url_for("/x/evil.sh"), "file_bytes": None,
        "file_width": 48, "file_height": 32, "mime": "image/jpeg", "sha1": None}])
    images = tmp_path / "deep" / "images"
    table = download_images(
        people, images, session_factory=lambda: make_session(user_agent="t", total_retries=0),
        config=DownloadConfig(progress=False, width=40))  # scaled: suffix taken from the URL
    assert table["status"].tolist() == ["ok"]
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == [
        "deep/images/Q7.jpg"]
