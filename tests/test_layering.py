"""The engine never imports the UI: no module under playground/ imports streamlit, however spelled."""
import ast
import re
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "playground"
FORBIDDEN = "streamlit"


def ui_imports(source: str) -> list[str]:
    """Every import of streamlit in `source`: import statements and import_module/__import__ calls."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            names = [str(node.args[0].value)]
        else:
            continue
        found += [f"line {node.lineno}: {n}" for n in names if n.split(".")[0] == FORBIDDEN]
    return found


ENGINE_FILES = sorted(ENGINE.rglob("*.py"))


def test_the_engine_has_modules_to_check():
    assert {"spec.py", "model.py", "train.py", "run.py", "telemetry.py"} <= {p.name for p in ENGINE_FILES}


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: str(p.relative_to(ENGINE)))
def test_no_streamlit_import(path):
    assert ui_imports(path.read_text(encoding="utf-8")) == [], f"{path} imports streamlit"


@pytest.mark.parametrize("source, hits", [
    ("import streamlit as st", 1),
    ("import os, streamlit.components.v1", 1),
    ("from streamlit import session_state", 1),
    ("import importlib\nimportlib.import_module('streamlit')", 1),
    ("__import__('streamlit.runtime')", 1),
    ("def f():\n    import streamlit\n", 1),
    ("import streamlit_extras", 0),
    ("from .streamlit import x", 0),
    ("x = 'import streamlit'", 0),
])
def test_the_checker_itself(source, hits):
    assert len(ui_imports(source)) == hits


def test_every_module_the_architecture_document_names_exists():
    root = ENGINE.parent
    text = (root / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:playground|ui|views|tests)/[\w/]*(?:\.py)?)`", text))
    assert len(named) > 20
    assert [p for p in sorted(named) if not (root / p).exists()] == []


UI_FILES = sorted((ENGINE.parent / "views").glob("*.py")) + sorted((ENGINE.parent / "ui").glob("*.py"))


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.name)
def test_pages_and_ui_read_a_run_through_named_queries_and_never_run_torch(path):
    """No `run.read(lambda ...)` and no `run.exp` reaching into the experiment's internals, and no torch in the UI."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "read" and node.args:
            assert not isinstance(node.args[0], ast.Lambda), f"{path.name}:{node.lineno}: use a named query"
        if isinstance(node, ast.Attribute) and node.attr == "exp":
            assert False, f"{path.name}:{node.lineno}: read the run through Run, Snapshot or a named query"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert not any(n.split(".")[0] == "torch" for n in names), f"{path.name}:{node.lineno} imports torch"


def test_the_live_charts_plotly_js_is_served_and_matches_the_plotly_package():
    """static/ carries plotly.js's cartesian bundle (static/README.md); it must be the plotly.js version the
    plotly package writes figures for, so an upgrade of one without the other fails here."""
    import plotly

    from ui import live_chart

    def version(path: Path) -> str:
        return re.search(r"plotly\.js.*? v(\S+)", path.read_text(encoding="utf-8")[:300]).group(1)

    served = ENGINE.parent / "static" / live_chart.PLOTLY_FILE
    assert served.is_file()
    assert version(served) == version(Path(plotly.__file__).parent / "package_data" / "plotly.min.js")
