"""Hostile and careless input: nothing a user supplies opens a server file, allocates without bound, shows a
traceback, half-writes results or comes back as a huge message. One test per way in, parametrized by case."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_tensors
from streamlit.testing.v1 import AppTest

from playground import DataError, Experiment, ExperimentSpec, SpecError, checkpoint
from playground.checkpoint import CheckpointError
from playground.cli import LOCK_FILE, main
from playground.data.tabular import read_csv_bytes, dataset_from_frame
from playground.model import MAX_BATCH_BYTES
from ui.share import encode_spec

ROOT = Path(__file__).resolve().parents[1]
SECRET = "TOP-SECRET-LINE-42"
BIG_INT = "9" * 5000

# --- what a spec may say: each oversized size is refused naming the field, the limit and the value ----------

OVERSIZED = [  # (experiment dict, field, words of the message)
    ({"data": {"name": "circle", "n_samples": 10**9}}, "data.n_samples", "at most 100,000, got 1000000000"),
    ({"data": {"name": "digits", "max_samples": 10**12}}, "data.max_samples", "at most 1,000,000"),
    ({"model": {"layers": [{"type": "dense", "units": 4_000_000}]}}, "model.layers[0].units", "at most 4,096"),
    ({"model": {"layers": [{"type": "conv2d", "padding": 1000}]}}, "model.layers[0].padding", "at most 64"),
    ({"model": {"layers": [{"type": "conv2d", "kernel_size": 10**6}]}}, "model.layers[0].kernel_size", "at most 64"),
    ({"train": {"epochs": 10**12}}, "train.epochs", "at most 1,000,000"),
    ({"train": {"batch_size": 10**9}}, "train.batch_size", "at most 100,000"),
    ({"train": {"num_threads": 1000}}, "train.num_threads", "at most 64"),
]
# 3,210 parameters and every field in bounds, but one batch's activations need ~1.1 GB (the code before this
# check trained it, peaking at 1.7 GB): refused before allocating
WIDE_CONV = {"data": {"name": "digits"}, "train": {"loss": "cross_entropy", "batch_size": 64},
             "model": {"layers": [{"type": "conv2d", "filters": 64, "padding": 64},
                                  {"type": "maxpool2d", "kernel_size": 64, "stride": 64}]}}


@pytest.mark.parametrize("document, field, words", OVERSIZED)
def test_oversized_sizes_are_refused_naming_field_limit_and_value(document, field, words):
    with pytest.raises(SpecError) as info:
        Experiment.from_dict(document)
    assert info.value.field == field and words in str(info.value)


def test_activation_memory_is_bounded_from_the_shapes_before_allocating():
    with pytest.raises(SpecError, match=rf"^model.layers: one batch would need about [\d,]+ MB of activations; "
                                        rf"the limit is {MAX_BATCH_BYTES // 2**20:,} MB\. The largest output is "
                                        r"conv2d_0's \(64, 134, 134\)"):
        Experiment.from_dict(WIDE_CONV)
    # the same stack with a batch that fits is fine
    small = {**WIDE_CONV, "model": {"layers": [{"type": "conv2d", "filters": 8, "padding": 1}]}}
    assert Experiment.from_dict(small).model.eval_chunk >= 1


PEAK_SCRIPT = """
import base64, json, sys, zlib
import torch
from safetensors.torch import save
from playground import Experiment, SpecError
from playground.checkpoint import load_checkpoint_bytes
from ui.share import decode_spec
for case in json.loads(sys.stdin.read()):
    text = json.dumps(case)
    token = base64.urlsafe_b64encode(zlib.compress(text.encode())).decode().rstrip("=")
    starts = {"validate": lambda: Experiment.from_dict(case), "link": lambda: Experiment(decode_spec(token)),
              "checkpoint": lambda: load_checkpoint_bytes(save({"w": torch.zeros(1)}, metadata={"experiment": text}))}
    for how, start in starts.items():
        try:
            start()
        except SpecError:
            continue
        raise SystemExit(f"{how} accepted {text}")
# VmHWM is this process's own peak; ru_maxrss would also count the parent's RSS at the fork (Linux carries it over
# exec), so the test would measure pytest's size late in a full run.
print(int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) // 1024)
"""


@pytest.mark.slow
def test_peak_memory_of_refusing_every_oversized_input_stays_under_1_gb():
    cases = [d for d, _, _ in OVERSIZED] + [WIDE_CONV]
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stdout.split()[-1])
    print(f"peak RSS refusing {len(cases)} oversized inputs three ways: {peak_mb} MB")
    assert peak_mb < 1024


# --- tracebacks that became messages ---------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ('{"seed": ' + BIG_INT + "}", "holds a number with thousands of digits"),
    ('{"data": {"name": "csv", "path": ' + BIG_INT + ', "target": "y"}}', "holds a number with thousands"),
    ('{"seed": 1, "seed": 2}', "gives the key 'seed' twice"),
    ('{"train": {"lr": 0.1, "lr": 0.3}}', "gives the key 'lr' twice"),
])
def test_json_that_python_chokes_on_is_a_spec_error(text, words):
    with pytest.raises(SpecError, match="^experiment: .*" + words):
        ExperimentSpec.from_json(text)


@pytest.mark.parametrize("data, field", [
    ({"name": "csv", "path": 5, "target": "y"}, "data.path"),
    ({"name": "csv", "path": ["a.csv"], "target": "y"}, "data.path"),
    ({"name": "csv", "path": "t.csv", "target": ["y", "z"]}, "data.target"),
    ({"name": ["circle"]}, "data.name"),
])
def test_wrong_types_are_named_not_type_errors(data, field):
    with pytest.raises(SpecError) as info:
        ExperimentSpec.from_dict({"data": data})
    assert info.value.field == field


def _frame(text: str):
    return read_csv_bytes(text.encode())


def test_a_400_digit_integer_in_a_csv_is_a_named_cell():
    table = _frame("a,b,y\n" + "1" * 400 + ",2,0\n3,4,1\n5,6,0\n7,8,1\n")
    with pytest.raises(DataError, match=r"column 'a': row 2 has an integer of 400 digits"):
        dataset_from_frame(table, "y", 0.25, 0)


def test_duplicate_csv_headers_are_refused():
    with pytest.raises(DataError, match="more than one column named 'a'"):
        _frame("a,b,a,y\n1,2,3,0\n4,5,6,1\n")


def test_a_messy_csv_reports_every_kind_of_problem_in_row_order():
    rows = ["1,2,0", "abc,2,1", "3,,0", "4,5,1"] + [f"{i},{i},{i % 2}" for i in range(6)] + ["n/a,1,0"]
    with pytest.raises(DataError) as info:
        dataset_from_frame(_frame("a,b,y\n" + "\n".join(rows) + "\n"), "y", 0.25, 0)
    message = str(info.value)
    assert "column 'a': row 3 has 'abc', row 12 is empty" in message   # row 3 before row 12, both kinds
    assert "column 'b': row 4 is empty" in message                     # and the other column, at once


def test_a_huge_csv_cell_gives_a_short_message():
    table = _frame("a,y\n" + "x" * 5_000_000 + ",0\n1,1\n2,0\n3,1\n")
    with pytest.raises(DataError) as info:
        dataset_from_frame(table, "y", 0.25, 0)
    assert len(str(info.value)) < 1000 and "5,000,000 characters" in str(info.value)


def test_a_huge_unknown_key_gives_a_short_message():
    with pytest.raises(SpecError) as info:
        ExperimentSpec.from_dict({"data": {"k" * 1_000_000: 1}})
    assert len(str(info.value)) < 1000


# --- checkpoints -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def xor_exp() -> Experiment:
    exp = Experiment.from_dict({"data": {"name": "xor", "n_samples": 60},
                                "model": {"layers": [{"type": "dense", "units": 3}]}, "train": {"epochs": 1}})
    exp.fit()
    return exp


def _with_tensors(exp: Experiment, change) -> bytes:
    tensors = {k: v.clone() for k, v in exp.model.state_dict().items()}
    change(tensors)
    return save_tensors(tensors, metadata={"experiment": exp.spec.to_json()})


@pytest.mark.parametrize("change, words", [
    (lambda t: t.update({"dense_0.0.weight": t["dense_0.0.weight"].to(torch.int8)}), "holds torch.int8 values"),
    (lambda t: t.update({"dense_0.0.weight": t["dense_0.0.weight"].bool()}), "holds torch.bool values"),
    (lambda t: t.update({"dense_0.0.weight": t["dense_0.0.weight"].to(torch.complex64)}), "holds torch.complex64"),
    (lambda t: t["output.0.bias"].fill_(float("nan")), "'output.0.bias' holds NaN or infinite values"),
])
def test_checkpoint_tensors_of_the_wrong_kind_are_refused(xor_exp, change, words):
    with pytest.raises(CheckpointError, match=words):
        checkpoint.load_checkpoint_bytes(_with_tensors(xor_exp, change))


def test_a_deeply_nested_safetensors_header_is_refused():
    header = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint"):
        checkpoint.load_checkpoint_bytes(len(header).to_bytes(8, "little") + header)


def test_a_checkpoint_with_many_stray_tensors_gives_a_short_message(xor_exp):
    blob = _with_tensors(xor_exp, lambda t: t.update({f"stray_{i}": torch.zeros(1) for i in range(30_000)}))
    with pytest.raises(CheckpointError) as info:
        checkpoint.load_checkpoint_bytes(blob)
    assert len(str(info.value)) < 1000 and "29,992 more" in str(info.value)


def test_a_nan_test_loss_counts_as_divergence(xor_exp):
    exp = Experiment(xor_exp.spec)
    exp.data.x_test[0, 0] = float("nan")  # the test set, not the training batches, produces NaN
    exp.fit(1)
    assert exp.status == "diverged" and "test loss became nan" in exp.message


# --- the command line: exit 2, SIGTERM saves, nothing half-written, one writer per --out -------------------

@pytest.mark.parametrize("text, words", [
    ('{"seed": ' + BIG_INT + "}", "thousands of digits"),
    ('{"train": {"lr": 1, "lr": 2}}', "twice"),
    ('{"data": {"name": "csv", "path": 7, "target": "y"}}', "data.path: must be text"),
    ('{"train": {"epochs": 1000000000000}}', "train.epochs: must be at most"),
])
def test_cli_exits_2_with_the_message(tmp_path, capsys, text, words):
    path = tmp_path / "bad.json"
    path.write_text(text)
    for command in ("validate", "train", "export"):
        assert main([command, str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err and "Traceback" not in err


def _cli(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "playground", *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, **kwargs)


@pytest.mark.slow
def test_sigterm_during_train_saves_everything_it_trained(tmp_path):
    spec = tmp_path / "long.json"  # ~0.5 s an epoch: a progress line every 5 epochs, ~25 s in all
    spec.write_text(json.dumps({"data": {"name": "digits"}, "model": {"layers": [{"type": "dense", "units": 32}]},
                                "train": {"loss": "cross_entropy", "batch_size": 1, "epochs": 50}}))
    out = tmp_path / "out"
    proc = _cli("train", spec, "--out", out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not proc.stderr.readline().startswith("epoch"):
        pass  # the first progress line says training has begun (readline returns "" at EOF)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["status"] == "interrupted" and summary["epochs"] > 0
    assert {p.name for p in out.iterdir()} >= {"metrics.csv", "experiment.json", "model.safetensors"}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert checkpoint.load(out).spec == ExperimentSpec.from_file(out / "experiment.json")


def test_a_second_train_into_the_same_out_is_refused(tmp_path, capsys):
    import fcntl

    spec = tmp_path / "exp.json"
    spec.write_text(json.dumps({"data": {"name": "xor", "n_samples": 40}, "train": {"epochs": 1}}))
    out = tmp_path / "out"
    out.mkdir()
    with open(out / LOCK_FILE, "w") as held:  # as another `train` would hold it
        fcntl.flock(held, fcntl.LOCK_EX)
        assert main(["train", str(spec), "--out", str(out)]) == 2
        assert "is being written by another `train` right now" in capsys.readouterr().err
    assert main(["train", str(spec), "--out", str(out)]) == 0
    assert main(["train", str(spec), "--out", str(out)]) == 0
    assert "replacing the results already in" in capsys.readouterr().err


def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "metrics.csv"
    target.write_text("old")

    def cut(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", cut)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.write_atomic(target, b"new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]


# --- the exported script reproduces the run as shipped: same thread count, no environment tweaks ------------

@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_exported_digits_run_matches_with_no_environment_tweaks(tmp_path, threads):
    spec = ExperimentSpec.from_dict({
        "seed": 1, "data": {"name": "digits", "max_samples": 600},
        "model": {"layers": [{"type": "dense", "units": 64, "activation": "relu"}]},
        "train": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.1, "batch_size": 32, "epochs": 3,
                  "device": "cpu", "num_threads": threads}})
    exp = Experiment(spec)
    history = exp.fit()
    (tmp_path / "exp.json").write_text(spec.to_json())
    path = tmp_path / "train_script.py"
    assert main(["export", str(tmp_path / "exp.json"), "-o", str(path)]) == 0
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    lines = [l.split() for l in done.stdout.splitlines() if l.startswith("epoch")]
    assert len(lines) == len(history)
    for words, (_, row) in zip(lines, history.iterrows()):
        assert abs(float(words[3]) - row.train_loss) <= 1e-5 and abs(float(words[5]) - row.test_loss) <= 1e-5


# --- the app: a spec from outside never opens a server file, and bad ones show a message ----------------------

OPENED: list[str] = []


def _record_opens(event: str, args: tuple) -> None:
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)) and "marker_secret" in os.fsdecode(args[0]):
        OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_record_opens)  # audit hooks cannot be removed; this one only notes paths named "marker_secret"


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "marker_secret.csv"
    path.write_text(f"{SECRET},y\n1,0\n2,1\n")
    OPENED.clear()
    return path


def _server_file_spec(path: Path) -> ExperimentSpec:
    return ExperimentSpec.from_dict({"data": {"name": "csv", "path": str(path), "target": "y"}})


def _page_text(at: AppTest) -> str:
    def walk(node, out):
        if getattr(node, "proto", None) is not None:
            out.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child, out)
        return out
    return "\n".join(walk(at._tree, []))


# AppTest 1.67's switch_page runs a page file without app.py, so a link never reaches the page that way. This
# frame opens `page` as app.py does, inside ui.share.shared_experiment; it sits beside app.py (st.page_link
# resolves page files from the entry script's folder) for the test's duration.
FRAME = """
import streamlit as st
from ui.share import shared_experiment
page = st.navigation([st.Page(p, default=p == {page!r}) for p in {pages!r}], position="hidden")
with shared_experiment({slot!r}):
    page.run()
"""
SLOTS = {"views/build.py": "main", "views/train.py": "main", "views/play.py": "playground"}
FRAME_FILE = ROOT / "_apptest_frame.py"


@pytest.fixture(scope="module", autouse=True)
def _frame_file():
    yield
    FRAME_FILE.unlink(missing_ok=True)


def _open(page: str, token: str | None = None) -> AppTest:
    pages = ("views/play.py", "views/build.py", "views/train.py", "views/inspect.py", "views/compare.py")
    FRAME_FILE.write_text(FRAME.format(page=page, pages=pages, slot=SLOTS[page]))
    at = AppTest.from_file(str(FRAME_FILE), default_timeout=60)
    if token is not None:
        at.query_params["exp"] = token
    return at.run()


def _stop_runs(at: AppTest) -> None:
    for key in ("run", "playground_run"):
        if key in at.session_state:
            at.session_state[key].stop()


@pytest.mark.parametrize("page", ["views/build.py", "views/play.py", "views/train.py"])
def test_a_share_link_naming_a_server_file_is_refused_unopened(marker, page):
    at = _open(page, encode_spec(_server_file_spec(marker)))
    try:
        assert not at.exception
        assert any("may not read" in w.value for w in at.warning)
        assert SECRET not in _page_text(at) and OPENED == []
        spec_key = {"main": "spec", "playground": "playground_spec"}[SLOTS[page]]
        assert at.session_state[spec_key].data.name != "csv"  # the user's own experiment is kept
    finally:
        _stop_runs(at)


def _share_sidebar():
    from ui.share import share_controls

    share_controls()


def _upload(key: str, name: str, data: bytes) -> AppTest:
    """The sidebar's uploader `key` given a file (uploads register in AppTest only outside a navigation)."""
    at = AppTest.from_function(_share_sidebar, default_timeout=60).run()
    at.file_uploader(key=key).set_value((name, data, "application/octet-stream"))
    return at.run()


def test_a_json_upload_naming_a_server_file_is_refused_unopened(marker):
    at = _upload("share_upload_json", "exp.json", _server_file_spec(marker).to_json().encode())
    assert not at.exception
    assert any("may not read" in e.value and "Nothing changed" in e.value for e in at.error)
    assert SECRET not in _page_text(at) and OPENED == [] and at.session_state["spec"].data.name != "csv"


def test_a_checkpoint_naming_a_server_file_is_refused_unopened(marker, xor_exp):
    blob = save_tensors({k: v for k, v in xor_exp.model.state_dict().items()},
                        metadata={"format": checkpoint.FORMAT, "experiment": _server_file_spec(marker).to_json()})
    at = _upload("share_upload_ckpt", "m.safetensors", blob)
    assert not at.exception
    assert any("may not read" in e.value for e in at.error)
    assert SECRET not in _page_text(at) and OPENED == [] and "run" not in at.session_state


def test_the_operators_shared_folder_is_readable(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path))
    (tmp_path / "csv").mkdir()
    table = tmp_path / "csv" / "class.csv"
    table.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    at = _open("views/build.py", encode_spec(_server_file_spec(table)))
    assert not at.exception and not at.warning
    assert at.session_state["spec"].data.path == str(table)
    assert at.selectbox(key="main:data.shared_table").value == "class.csv"


@pytest.mark.parametrize("page", ["views/build.py", "views/play.py"])
def test_a_link_with_a_5000_digit_number_shows_a_message(page):
    import base64
    import zlib

    token = base64.urlsafe_b64encode(zlib.compress(('{"seed": ' + BIG_INT + "}").encode())).decode().rstrip("=")
    at = _open(page, token)
    try:
        assert not at.exception
        assert any("thousands of digits" in w.value for w in at.warning)
    finally:
        _stop_runs(at)


# --- messages in the user's words, next to what they changed --------------------------------------------------

def _page(path: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).switch_page(path).run()


def test_zero_units_is_said_under_the_layer_and_the_summary_keeps_the_valid_stack():
    at = _page("views/build.py")
    before = at.session_state["spec"]
    at.number_input(key="main:layer0.units").set_value(0).run()
    assert not at.exception
    assert at.error[0].value == "**Layer 0 · Units** must be a positive integer, got 0."
    assert at.session_state["main:layers"][0]["units"] == 0       # what was typed is kept, not snapped back
    assert at.session_state["spec"] == before                     # Train keeps the last valid network


def test_a_bad_training_number_is_said_under_its_box():
    at = _page("views/train.py")
    at.number_input(key="main:train.lr").set_value(0.0).run()
    assert not at.exception
    assert "**Learning rate** must be a number more than 0 and at most 10, got 0.0." in [e.value for e in at.error]
    assert at.button(key="train_start").disabled


def test_csv_before_any_upload_asks_for_a_file_not_a_field_path():
    at = _page("views/build.py")
    at.selectbox(key="main:data.name").set_value("csv").run()
    assert not at.exception and not at.error
    assert "Upload a CSV file" in at.info[0].value
