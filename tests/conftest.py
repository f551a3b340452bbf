"""Shared fixtures: one intra-op thread (the machine is small and shared) and a compact experiment builder."""
import pytest
import torch

from playground import Experiment, workers

torch.set_num_threads(1)  # tiny nets: one thread is as fast as two here, and steadier under load
# Pages under AppTest train their runs in threads, so that tests can look inside (run.exp); tests/test_workers.py
# covers worker processes, and the servers that the browser and proxy tests start use them, as the app does.
workers.WORKERS = 0


@pytest.fixture(scope="session", autouse=True)
def _own_class_database(tmp_path_factory):
    """The tests' classroom store, apart from the user's own (the app's default is in their data folder), and
    inherited by the servers the browser and proxy tests start."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PLAYGROUND_DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('classroom') / 'class.sqlite'}")
    yield
    mp.undo()


@pytest.fixture
def make_exp():
    """`make_exp("xor", layers=[(8, "tanh")] * 2, optimizer="adam", epochs=30)` -> Experiment.

    A layer is a LayerSpec dict or `(units, activation)` for a dense layer; `data` adds data keys
    (n_samples defaults to 200; image sets ignore it); the other keywords are train keys.
    """
    def make(name: str = "xor", layers=((8, "tanh"), (8, "tanh")), seed: int = 0, data: dict | None = None,
             **train) -> Experiment:
        stack = [l if isinstance(l, dict) else {"type": "dense", "units": l[0], "activation": l[1]} for l in layers]
        data = {"name": name, "n_samples": 200, **(data or {})}
        return Experiment.from_dict({"seed": seed, "data": data, "model": {"layers": stack}, "train": train})
    return make
