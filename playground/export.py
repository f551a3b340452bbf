"""Experiment -> a standalone, readable PyTorch script that trains the same run with the same numbers.

The script follows train.py's rules (its module docstring): same data (toy generators copied from
data/toy.py's source, image helpers from data/images.py, the CSV reader from data/tabular.py with what it
uses, so none of them can drift from the engine's), same modules in the same order after
`torch.manual_seed(weights_seed)` (so the same initial weights), same batches, loss, penalty, optimizer
and schedule. On the CPU its per-epoch losses match `Experiment.fit()` to ~1e-6. Code for the model,
optimizer and schedule is rendered from the engine's own builders, and the loss and penalty are the very
code strings the engine compiles (objectives.loss_code, penalty_code), so a new option in the registries
is exported without touching this file.
"""
from __future__ import annotations

import ast
import inspect
import json
import pprint
import re
import textwrap
from pathlib import Path

import jinja2
import nbformat

import torch
from torch import nn

from . import modules, objectives, quoting, registry
from .data import DATASETS, Dataset, load_dataset, tabular, toy
from .data import base as data_base
from .data import images
from .layers import LAYERS
from .model import check_weight_edits, describe_shape, plan
from .spec import ExperimentSpec

_HIDDEN = {"self", "params", "optimizer", "last_epoch"}  # constructor arguments the script passes itself
_TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                keep_trailing_newline=True, autoescape=False)


def export_script(spec: ExperimentSpec, dataset: Dataset | None = None, num_threads: int | None = None) -> str:
    """The script's source. `dataset` (already loaded) saves reading the data to learn its shape;
    `num_threads` is the CPU thread count the run used, if a Run capped the spec's."""
    return _render(_values(spec, dataset, num_threads, notebook=False))


def export_notebook(spec: ExperimentSpec, dataset: Dataset | None = None, num_threads: int | None = None) -> str:
    """The same code as a Jupyter notebook (.ipynb JSON): the docstring and each section's title and comments
    as markdown, the code between them as cells, then the run and a Plotly chart of its losses."""
    source = _render(_values(spec, dataset, num_threads, notebook=True))
    intro = ast.get_docstring(ast.parse(source))
    head, *sections = re.split(r"^# ---- ", source[source.index('"""', 3) + 3:], flags=re.M)
    cells = [nbformat.v4.new_markdown_cell("# " + intro), nbformat.v4.new_code_cell(head.strip())]
    for section in sections:
        title, _, rest = section.partition("\n")
        lines = rest.splitlines()
        n = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
        text = "\n".join(line[2:] if line.startswith("# ") else line[1:] for line in lines[:n])
        cells.append(nbformat.v4.new_markdown_cell(f"## {title.rstrip(' -').capitalize()}\n\n{text}".strip()))
        if code := "\n".join(lines[n:]).strip():
            cells.append(nbformat.v4.new_code_cell(code))
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    return nbformat.writes(notebook)


def _render(values: dict) -> str:
    script = _TEMPLATES.get_template("script.py.jinja").render(values)
    return re.sub(r"\n{4,}", "\n\n\n", script)  # dropped definitions leave no gaps over two blank lines


def _values(spec: ExperimentSpec, dataset: Dataset | None, num_threads: int | None, notebook: bool) -> dict:
    """What the template is filled in with."""
    data = dataset if dataset is not None else load_dataset(spec.data, spec.seed)
    t = spec.train
    objectives.check_loss(t.loss, data.task, data.name)  # what Experiment refuses is not exported either
    scheduler = objectives.make_scheduler(t, torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=t.lr))
    kind, planned = DATASETS[spec.data.name].kind, _planned(spec, data)
    check_weight_edits(t.weight_edits, [m for _, _, built in planned for m in built if isinstance(m, nn.Linear)])
    return {
        "title": f"Train a {len(spec.model.layers)}-layer network on {spec.data.name} ({data.task}).",
        "needs": _requirements(spec.data.name),
        "experiment": _experiment_comment(spec),
        "imports": _imports(spec.data.name),
        "seed": spec.seed, "weights_seed": spec.weights_seed, "epochs": t.epochs, "batch_size": t.batch_size,
        "num_threads": num_threads or t.num_threads, "reg_rate": t.reg_rate,
        "changes": json.dumps([c.to_dict() for c in t.changes]) if t.changes else None,
        "weight_edits": json.dumps([e.to_dict() for e in t.weight_edits]) if t.weight_edits else None,
        "device": _device_code(t.device), "settings": _data_settings(spec),
        "data_kind": spec.data.name if spec.data.name == "digits" else kind,
        "torchvision_class": getattr(images.SOURCES.get(spec.data.name), "torchvision_class", None),
        **_copied_data_code(spec.data.name),
        "model_code": _model_code(planned), "own_modules": _own_modules(planned),
        "init": spec.model.init, "init_code": registry.INITS[spec.model.init],
        "loss_code": objectives.loss_code(t.loss, data.task),
        "classify": data.task != "regression", "multiclass": data.task == "multiclass",
        "correct_code": objectives.correct_code(data.task),
        "optimizer": _call(objectives.make_optimizer(t, [nn.Parameter(torch.zeros(1))]), "model.parameters()"),
        "penalty": objectives.penalty_code(t.regularization),
        "scheduler": _call(scheduler, "optimizer") if scheduler is not None else None,
        "patience": t.early_stopping_patience,
        "notebook": notebook,
        "experiment_json": "\n".join("# " + line for line in spec.to_json().splitlines()) if notebook else None,
    }


def module_code(module: nn.Module) -> str:
    """`nn.Linear(in_features=2, out_features=8)`: the module's repr as a call, arguments at defaults dropped
    (a module of playground/modules.py is called by its own name: the script carries its class)."""
    call = ast.parse(("" if type(module).__module__ == modules.__name__ else "nn.") + repr(module), mode="eval").body
    defaults = inspect.signature(type(module)).parameters
    call.keywords = [k for k in call.keywords if k.arg not in defaults or
                     defaults[k.arg].default is inspect.Parameter.empty or
                     ast.literal_eval(k.value) != defaults[k.arg].default]
    return ast.unparse(call)


def _experiment_comment(spec: ExperimentSpec) -> str:
    """The spec's JSON as comment lines, one wrapped paragraph per top-level key."""
    entries = [f'"{key}": {json.dumps(value)}' for key, value in spec.to_dict().items()]
    lines = []
    for i, entry in enumerate(entries):
        lines += textwrap.wrap(entry + ("," if i < len(entries) - 1 else ""), 100, initial_indent="#   ",
                               subsequent_indent="#       ", break_on_hyphens=False)
    return "\n".join(lines)


def _requirements(name: str) -> str:
    if name == "csv":
        return "PyTorch, pandas and NumPy"
    if name == "digits":
        return "PyTorch and scikit-learn (the 8x8 digits images ship with it)"
    if DATASETS[name].needs_download:
        return f"PyTorch and torchvision (it downloads {name} into ./data on the first run)"
    return "PyTorch only"


def _imports(name: str) -> str:
    torch_lines = ["import torch", "import torch.nn.functional as F", "from torch import nn"]
    if name == "csv":  # what the copied reader (quoting.py, data/base.py, data/tabular.py) imports too
        return "\n".join(["from __future__ import annotations", "", "import io", "import math",
                          "from collections.abc import Iterable", "from dataclasses import dataclass",
                          "from typing import Any", "", "import numpy as np", "import pandas as pd", *torch_lines])
    lines = ["import math", "", *torch_lines]
    if DATASETS[name].needs_download:
        lines.append("from torchvision import datasets")
    return "\n".join(lines)


def _device_code(device: str) -> str:
    if device == "auto":
        return ('torch.device("cuda" if torch.cuda.is_available() else '
                '"mps" if torch.backends.mps.is_available() else "cpu")')
    return f'torch.device("{device}")'


def _data_settings(spec: ExperimentSpec) -> str:
    d, kind = spec.data, DATASETS[spec.data.name].kind
    values = {"DATASET": d.name, "TEST_FRACTION": d.test_fraction}
    if kind == "toy":
        values.update(N_SAMPLES=d.n_samples, NOISE=d.noise, FEATURES=list(d.features))
    elif kind == "drawn":
        values.update(FEATURES=list(d.features), POINTS=[list(p) for p in d.points])
    elif kind == "csv":
        values.update(CSV_PATH=d.path, TARGET=d.target)
    else:
        values.update(MAX_SAMPLES=d.max_samples)
    return "\n".join(f"{k} = {pprint.pformat(v, width=100, compact=True)}" for k, v in values.items())


def _source_body(module, skip: tuple[str, ...] = ()) -> str:
    """A module's source without its docstring, its imports (the script has its own) and the top-level
    definitions named in `skip`."""
    src = inspect.getsource(module)
    lines = src.splitlines()
    kept = []
    for node in ast.parse(src).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) or getattr(node, "name", None) in skip or (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            continue
        start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
        kept.append("\n".join(lines[start - 1:node.end_lineno]))
    return "\n\n\n".join(kept).strip()


def _copied_data_code(name: str) -> dict[str, str]:
    """The engine's own data code the script carries (so the two cannot drift), and where it came from."""
    kind = DATASETS[name].kind
    if kind in ("toy", "drawn"):
        return {"copied_from": "The toy generators, copied from the playground (playground/data/toy.py).",
                "copied_code": _source_body(toy)}
    if kind == "csv":
        return {"copied_from": "The CSV reader, copied from the playground (playground/quoting.py, data/base.py, "
                               "data/tabular.py):\n# the same task rule, checks and standardisation, so the script "
                               "reads the table as the app did.",
                "copied_code": "\n\n\n".join(_source_body(m, skip) for m, skip in (
                    (quoting, ()), (data_base, ("TASKS",)), (tabular, ("shared_csv_dir", "load_csv_dataset"))))}
    helpers = [images._subset, images._to_float] + ([images._digits] if name == "digits" else [images._decode])
    return {"copied_from": "Image helpers, copied from the playground (playground/data/images.py).",
            "copied_code": "\n\n\n".join(inspect.getsource(f).strip() for f in helpers)}


def _planned(spec: ExperimentSpec, data: Dataset) -> list[tuple]:
    """(block, layer, its modules) for each block, built as model.py builds them, on the meta device: to read
    the modules' arguments, with no memory and no draw from the RNG."""
    with torch.device("meta"):
        return [(block, layer, LAYERS[layer.type].build(layer, shape))
                for block, layer, shape in plan(spec.model, data.input_shape, data.n_outputs)]


def _model_code(planned: list[tuple]) -> str:
    """`nn.Sequential(...)` with one commented group per block, from the same plan and builders as model.py."""
    lines = []
    for block, layer, built in planned:
        params = ", ".join(f"{k}={getattr(layer, k)}" for k in LAYERS[layer.type].params)
        note = f"; {block.note}" if block.note else ""
        lines.append(f"        # {block.name}: {layer.type}({params}) -> {describe_shape(block.out_shape)}{note}")
        lines += [f"        {module_code(m)}," for m in built]
    return "\n".join(lines)


def _own_modules(planned: list[tuple]) -> str:
    """The source of the playground/modules.py classes the network uses, for the script to define."""
    used = {type(m) for _, _, built in planned for m in built if type(m).__module__ == modules.__name__}
    return "\n\n\n".join(inspect.getsource(cls).strip() for cls in sorted(used, key=lambda c: c.__name__))


def _call(obj, first_arg: str) -> str:
    """Constructor call reproducing an optimizer or scheduler: lr and the arguments not at their defaults."""
    cls = type(obj)
    values = obj.defaults if isinstance(obj, torch.optim.Optimizer) else vars(obj)
    args = [first_arg]
    for name, p in inspect.signature(cls).parameters.items():
        if name in _HIDDEN or (name not in values and p.default is not inspect.Parameter.empty):
            continue
        if name == "lr" or p.default is inspect.Parameter.empty or values[name] != p.default:
            args.append(f"{name}={values[name]!r}")
    home = "torch.optim" if getattr(torch.optim, cls.__name__, None) is cls else cls.__module__
    return f"{home}.{cls.__name__}({', '.join(args)})"
