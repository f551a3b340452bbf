"""Image and CSV loaders: offline digits, the torchvision cache with no network, CSV validation and tasks."""
import dataclasses
import socket
import struct
import time
from urllib.error import URLError

import numpy as np
import pandas as pd
import pytest
import torch

from playground.data import DataError, load_dataset
from playground.data import images, tabular
from playground.data.catalog import describe_datasets
from playground.spec import DataSpec


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory for this test."""
    monkeypatch.setenv(images.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


# --- images -----------------------------------------------------------------------------------------

def test_digits_shapes_classes_split_and_seed():
    ds = load_dataset(DataSpec(name="digits", test_fraction=0.25), seed=3)
    assert ds.x_train.shape == (1347, 1, 8, 8) and ds.x_test.shape == (450, 1, 8, 8)
    assert ds.x_train.dtype == torch.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert ds.y_train.dtype == torch.int64 and set(ds.y_train.tolist()) == set(range(10))
    assert ds.task == "multiclass" and ds.class_names == tuple("0123456789") and ds.n_outputs == 10
    again = load_dataset(DataSpec(name="digits", test_fraction=0.25), seed=3)
    other = load_dataset(DataSpec(name="digits", test_fraction=0.25), seed=4)
    assert torch.equal(ds.x_train, again.x_train) and torch.equal(ds.y_test, again.y_test)
    assert not torch.equal(ds.y_train, other.y_train)


def test_digits_max_samples_caps_training_images():
    ds = load_dataset(DataSpec(name="digits", max_samples=100), seed=0)
    assert len(ds.y_train) == 100 and len(ds.y_test) == 899  # test cap max(1000, 20) exceeds the split


def test_mnist_without_network_fails_fast_with_the_fix(cache, monkeypatch):
    # .invalid never resolves (RFC 2606): the real probe fails here on any machine, networked or not
    offline = dataclasses.replace(images.SOURCES["mnist"], url="https://download.invalid/mnist/")
    monkeypatch.setitem(images.SOURCES, "mnist", offline)
    start = time.monotonic()
    with pytest.raises(DataError) as err:
        load_dataset(DataSpec(name="mnist"), seed=0)
    assert time.monotonic() - start < 15  # a hang guard, not a speed test
    msg = str(err.value)
    assert "cannot reach download.invalid" in msg and "12 MB" in msg and str(cache) in msg and "digits" in msg
    assert not images.cache_file("mnist").exists()


def test_failed_download_becomes_data_error(cache, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    def refuse(*args, **kwargs):
        raise URLError("timed out")

    monkeypatch.setattr(images, "can_reach", lambda url: True)
    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", refuse)
    with pytest.raises(DataError, match="downloading from .* failed"):
        load_dataset(DataSpec(name="fashion_mnist"), seed=0)


def test_can_reach_probes_a_real_socket():
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert images.can_reach(f"http://127.0.0.1:{server.getsockname()[1]}/file.gz")
    start = time.monotonic()
    assert not images.can_reach("https://download.invalid/x.gz", timeout=1.0)
    assert time.monotonic() - start < 5


def _fake_cache(name, n_train=50, n_test=20, shape=(1, 28, 28)):
    g = torch.Generator().manual_seed(0)
    tensors = {"x_train": torch.randint(0, 256, (n_train, *shape), dtype=torch.uint8, generator=g),
               "y_train": torch.randint(0, 10, (n_train,), generator=g),
               "x_test": torch.randint(0, 256, (n_test, *shape), dtype=torch.uint8, generator=g),
               "y_test": torch.randint(0, 10, (n_test,), generator=g)}
    images.cache_file(name).parent.mkdir(parents=True, exist_ok=True)
    torch.save(tensors, images.cache_file(name))
    return tensors


def test_mnist_loads_from_cache_without_network(cache, monkeypatch):
    monkeypatch.setattr(images, "can_reach", lambda url: pytest.fail("must not touch the network"))
    saved = _fake_cache("mnist")
    ds = load_dataset(DataSpec(name="mnist"), seed=0)
    assert ds.x_train.shape == (50, 1, 28, 28) and ds.x_train.dtype == torch.float32
    assert torch.allclose(ds.x_train, saved["x_train"].float() / 255) and torch.equal(ds.y_test, saved["y_test"])
    assert ds.class_names == tuple("0123456789")
    small = load_dataset(DataSpec(name="mnist", max_samples=10), seed=1)
    assert len(small.y_train) == 10 and len(small.y_test) == 20
    assert torch.equal(small.x_train, load_dataset(DataSpec(name="mnist", max_samples=10), seed=1).x_train)
    assert images.image_cache_status()["mnist"] == f"cached at {images.cache_file('mnist')}"


def test_raw_torchvision_files_are_decoded_once_into_the_cache(cache, monkeypatch):
    monkeypatch.setattr(images, "can_reach", lambda url: pytest.fail("must not touch the network"))
    raw = cache / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 6), ("t10k", 4)):
        pixels = bytes(i % 256 for i in range(n * 28 * 28))
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + pixels)
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + bytes(range(n)))
    assert "decoded on first load" in images.image_cache_status()["mnist"]
    ds = load_dataset(DataSpec(name="mnist"), seed=0)
    assert ds.x_train.shape == (6, 1, 28, 28) and ds.y_test.tolist() == [0, 1, 2, 3]
    assert images.cache_file("mnist").is_file()
    assert torch.load(images.cache_file("mnist"), weights_only=True)["x_train"].dtype == torch.uint8


def test_cifar_layout_is_channels_first():
    class Fake:
        data = np.zeros((3, 32, 32, 3), dtype=np.uint8)
        targets = [0, 1, 2]

    out = images._decode("cifar10", (Fake, Fake))
    assert out["x_train"].shape == (3, 3, 32, 32) and out["y_test"].dtype == torch.int64


def test_catalog_lists_every_dataset_with_status(cache):
    table = describe_datasets()
    assert list(table.columns) == ["name", "kind", "task", "description", "status"]
    status = dict(zip(table["name"], table["status"]))
    assert status["cifar10"] == "needs download (~163 MB)" and "built in" in status["digits"]


# --- csv --------------------------------------------------------------------------------------------

def _csv(tmp_path, frame, name="data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False) if isinstance(frame, pd.DataFrame) else path.write_text(frame)
    return str(path)


def _load(path, target, seed=0, test_fraction=0.25):
    return load_dataset(DataSpec(name="csv", path=path, target=target, test_fraction=test_fraction), seed)


def test_csv_binary_multiclass_regression_and_string_targets(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40) * 1000,
                       "yes_no": rng.choice([3, 7], 40), "digit": np.arange(40) % 4, "price": rng.normal(size=40)})
    path = _csv(tmp_path, df)
    binary = _load(path, "yes_no")
    assert binary.task == "binary" and binary.class_names == ("3", "7") and binary.y_train.dtype == torch.float32
    assert set(binary.y_train.tolist()) == {0.0, 1.0} and binary.feature_names == ("a", "b", "digit", "price")
    multi = _load(path, "digit")
    assert multi.task == "multiclass" and multi.class_names == ("0", "1", "2", "3") and multi.n_outputs == 4
    assert multi.y_train.dtype == torch.int64 and multi.x_train.shape == (30, 4) and multi.x_test.shape == (10, 4)
    reg = _load(path, "price")
    assert reg.task == "regression" and reg.class_names == () and reg.y_train.dtype == torch.float32
    df["animal"] = rng.choice(["dog", "cat", "emu"], 40)
    strings = _load(_csv(tmp_path, df, "s.csv"), "animal")
    assert strings.task == "multiclass" and strings.class_names == ("cat", "dog", "emu")
    assert strings.feature_names == ("a", "b", "yes_no", "digit", "price")


def test_csv_features_standardised_with_train_stats_and_seeded(tmp_path):
    df = pd.DataFrame({"x": np.arange(100.0) * 50 + 7, "const": 5.0, "y": np.arange(100.0) ** 0.5})
    path = _csv(tmp_path, df)
    ds = _load(path, "y", seed=1)
    assert torch.allclose(ds.x_train[:, 0].mean(), torch.tensor(0.0), atol=1e-5)
    assert torch.allclose(ds.x_train[:, 0].std(unbiased=False), torch.tensor(1.0), atol=1e-5)
    assert ds.x_test[:, 0].mean().abs() > 1e-3  # test rows use the train mean, not their own
    assert torch.all(ds.x_train[:, 1] == 0) and torch.all(ds.x_test[:, 1] == 0)  # std 0 -> divide by 1
    assert torch.equal(ds.x_train, _load(path, "y", seed=1).x_train)
    assert not torch.equal(ds.y_train, _load(path, "y", seed=2).y_train)


def test_csv_missing_file_and_missing_target_column(tmp_path):
    with pytest.raises(DataError, match="not found"):
        _load(str(tmp_path / "nope.csv"), "y")
    path = _csv(tmp_path, "a,b,label\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match="'target'.*'a', 'b', 'label'"):
        _load(path, "target")


def test_csv_non_numeric_cell_names_column_and_row(tmp_path):
    path = _csv(tmp_path, "a,b,y\n1,2,0\n3,4,1\n5,oops,0\n7,8,1\n")
    with pytest.raises(DataError, match=r"column 'b': row 4 has 'oops'\. Feature columns must hold numbers"):
        _load(path, "y")


def test_csv_missing_value_names_column_and_row(tmp_path):
    path = _csv(tmp_path, "a,b,y\n1,2,0\n,4,1\n5,6,0\n7,8,1\n")
    with pytest.raises(DataError, match="column 'a': row 3 is empty"):
        _load(path, "y")
    with pytest.raises(DataError, match="column 'y': row 2 is empty"):
        _load(_csv(tmp_path, "a,y\n1,\n2,1\n", "t.csv"), "y")


def test_csv_too_large_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tabular, "MAX_CSV_BYTES", 100)
    path = _csv(tmp_path, "a,y\n" + "1,0\n" * 100)
    with pytest.raises(DataError, match="the limit is"):
        _load(path, "y")
    with pytest.raises(DataError, match="is 8 bytes; the limit is 5 bytes"):
        tabular.read_csv_bytes(b"a,y\n1,0\n", max_bytes=5)


def test_read_csv_bytes_rejects_empty_input():
    with pytest.raises(DataError, match="empty"):
        tabular.read_csv_bytes(b"")
    with pytest.raises(DataError, match="no data rows"):
        tabular.read_csv_bytes(b"a,b\n")
    assert list(tabular.read_csv_bytes(b"a, b\n1, 2\n").columns) == ["a", "b"]
