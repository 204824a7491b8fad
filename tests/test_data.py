"""artspeed.data: sources in order, normalization, pipelines, and the offline errors."""

import gzip
import time

import numpy as np
import pytest

import artspeed
from artspeed import data as data_module
from artspeed.errors import DatasetError, InvalidArgumentError


def _write_npz(path, n_train=40, n_test=20, shape=(28, 28), **overrides):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
              "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
              "y_test": rng.integers(0, 10, n_test, dtype=np.uint8)}
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return arrays


def test_builtin_shapes_is_deterministic_balanced_and_normalized():
    a = artspeed.load_dataset("shapes")
    b = artspeed.load_dataset("shapes")
    assert a.x_train.shape == (6000, 28, 28, 1) and a.x_test.shape == (1000, 28, 28, 1)
    assert a.x_train.dtype == np.float32 and 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert np.bincount(a.y_train).tolist() == [600] * 10
    assert not np.array_equal(a.x_train[:1000], a.x_test)  # train and test differ
    assert a.num_classes == 10 and a.class_names == artspeed.SHAPE_NAMES


def test_shapes_are_not_trivial_for_a_linear_classifier():
    """A nearest-class-mean classifier on pixels falls well short of a CNN."""
    ds = artspeed.load_dataset("shapes")
    x_train, x_test = ds.x_train.reshape(6000, -1), ds.x_test.reshape(1000, -1)
    means = np.stack([x_train[ds.y_train == k].mean(0) for k in range(10)])
    pred = np.argmin(((x_test[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert 0.15 < np.mean(pred == ds.y_test) < 0.8


def test_data_dir_npz_is_the_first_source(tmp_path, monkeypatch):
    arrays = _write_npz(tmp_path / "mnist.npz")
    monkeypatch.setenv("ARTSPEED_DATA_DIR", str(tmp_path))
    ds = artspeed.load_dataset("mnist")
    assert ds.source == str(tmp_path / "mnist.npz")
    assert ds.x_train.shape == (40, 28, 28, 1) and ds.y_train.dtype == np.int64
    np.testing.assert_allclose(ds.x_test[..., 0], arrays["x_test"] / 255.0, rtol=1e-6)
    limited = artspeed.load_dataset("mnist", limit_train=10, limit_test=5)
    assert len(limited.x_train) == 10 and len(limited.y_test) == 5


def test_default_dataset_comes_from_the_environment(tmp_path, monkeypatch):
    _write_npz(tmp_path / "mnist.npz")
    monkeypatch.setenv("ARTSPEED_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ARTSPEED_DATASET", "mnist")
    assert artspeed.load_dataset().name == "mnist"
    monkeypatch.delenv("ARTSPEED_DATASET")
    assert artspeed.default_dataset() == "fashion_mnist"


def test_cifar_layout_labels_are_flattened(tmp_path, monkeypatch):
    _write_npz(tmp_path / "cifar10.npz", shape=(32, 32, 3),
               y_train=np.zeros((40, 1), np.uint8), y_test=np.ones((20, 1), np.uint8))
    monkeypatch.setenv("ARTSPEED_DATA_DIR", str(tmp_path))
    ds = artspeed.load_dataset("cifar10")
    assert ds.input_shape == (32, 32, 3) and ds.y_train.shape == (40,)
    assert ds.class_names[0] == "airplane"


def _write_idx(path, array, header_bytes):
    with gzip.open(path, "wb") as f:
        f.write(bytes(header_bytes) + array.tobytes())


def test_keras_cache_is_the_second_source(no_sources, monkeypatch):
    # Fashion-MNIST as Keras caches it: four gzipped IDX files.
    cache = no_sources / ".keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("t10k", 12)):
        _write_idx(cache / f"{split}-labels-idx1-ubyte.gz",
                   rng.integers(0, 10, n, dtype=np.uint8), 8)
        _write_idx(cache / f"{split}-images-idx3-ubyte.gz",
                   rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), 16)
    monkeypatch.setenv("ARTSPEED_OFFLINE", "1")  # proves no download is tried
    ds = artspeed.load_dataset("fashion_mnist")
    assert ds.source.startswith("Keras cache") and ds.x_train.shape == (30, 28, 28, 1)
    assert ds.class_names[0] == "T-shirt/top" and len(ds.y_test) == 12


@pytest.mark.parametrize("overrides, match", [
    ({"x_test": None}, "lacks x_test"),
    ({"y_train": np.zeros(3, np.uint8)}, "40 train images but 3 labels"),
])
def test_malformed_npz_is_a_clear_error(tmp_path, monkeypatch, overrides, match):
    _write_npz(tmp_path / "mnist.npz", **overrides)
    monkeypatch.setenv("ARTSPEED_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match=match):
        artspeed.load_dataset("mnist")


def test_wrong_image_shape_and_empty_and_corrupt_files(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTSPEED_DATA_DIR", str(tmp_path))
    _write_npz(tmp_path / "mnist.npz", shape=(32, 32))
    with pytest.raises(DatasetError, match=r"shape \(32, 32, 1\), expected \(28, 28, 1\)"):
        artspeed.load_dataset("mnist")
    _write_npz(tmp_path / "mnist.npz", n_test=0)
    with pytest.raises(DatasetError, match="no train or no test samples"):
        artspeed.load_dataset("mnist")
    (tmp_path / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        artspeed.load_dataset("mnist")


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(DatasetError, match="unknown dataset 'nope'.*fashion_mnist, mnist, "
                                           "cifar10, shapes"):
        artspeed.load_dataset("nope")


def test_data_dir_that_is_not_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTSPEED_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(DatasetError, match="is not a folder"):
        artspeed.load_dataset("mnist")


def test_bad_limits_are_refused():
    with pytest.raises(InvalidArgumentError, match="limit_train"):
        artspeed.load_dataset("shapes", limit_train=0)


def test_unreachable_download_fails_within_seconds_and_names_the_way_out(no_sources,
                                                                         monkeypatch):
    # A reserved name (RFC 2606) that never resolves: no traffic leaves the machine.
    specs = dict(data_module.DATASETS)
    specs["fashion_mnist"] = data_module._Spec(
        **{**specs["fashion_mnist"].__dict__, "host": "artspeed-test.invalid"})
    monkeypatch.setattr(data_module, "DATASETS", specs)
    start = time.perf_counter()
    with pytest.raises(DatasetError) as excinfo:
        artspeed.load_dataset("fashion_mnist")
    elapsed = time.perf_counter() - start
    message = str(excinfo.value)
    assert "ARTSPEED_DATA_DIR" in message and "'shapes'" in message
    assert "artspeed-test.invalid cannot be reached" in message
    assert "\n" not in message and "Traceback" not in message
    assert elapsed < 30, f"the offline error took {elapsed:.1f} s"  # a hang guard, not a benchmark


def test_offline_switch_forbids_downloads(no_sources, monkeypatch):
    monkeypatch.setenv("ARTSPEED_OFFLINE", "1")
    with pytest.raises(DatasetError, match="downloads are off: ARTSPEED_OFFLINE"):
        artspeed.load_dataset("mnist")


def test_pipelines_batch_and_shuffle_by_seed(shapes_small):
    first = next(iter(shapes_small.train_data(batch_size=32, seed=1)))
    again = next(iter(shapes_small.train_data(batch_size=32, seed=1)))
    other = next(iter(shapes_small.train_data(batch_size=32, seed=2)))
    assert first[0].shape == (32, 28, 28, 1) and first[1].shape == (32,)
    assert np.array_equal(first[1].numpy(), again[1].numpy())
    assert not np.array_equal(first[1].numpy(), other[1].numpy())
    test_batches = list(shapes_small.test_data(batch_size=100))
    assert len(test_batches) == 3
    assert np.array_equal(test_batches[0][1].numpy(), shapes_small.y_test[:100])
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        shapes_small.train_data(batch_size=0)


def test_representative_samples(shapes_small):
    samples = list(artspeed.representative_samples(shapes_small, 5, seed=3))
    assert len(samples) == 5 and all(s.shape == (1, 28, 28, 1) for s in samples)
    assert all(s.dtype == np.float32 for s in samples)
    again = list(artspeed.representative_samples(shapes_small, 5, seed=3))
    assert all(np.array_equal(a, b) for a, b in zip(samples, again))
    assert len(list(artspeed.representative_samples(shapes_small.x_test[:3], 10))) == 3


@pytest.mark.parametrize("images, match", [
    (np.zeros((0, 28, 28, 1), np.float32), "non-empty"),
    (np.zeros((4, 28, 28, 1), np.uint8), "must be float images"),
    (np.full((4, 28, 28, 1), np.nan, np.float32), "NaN"),
])
def test_representative_samples_refuse_bad_data(images, match):
    with pytest.raises(InvalidArgumentError, match=match):
        list(artspeed.representative_samples(images, 2))


def test_dataset_repr_and_dict(shapes_small):
    assert repr(shapes_small).startswith("<Dataset shapes: 1000 train, 300 test")
    d = shapes_small.to_dict()
    assert d["input_shape"] == [28, 28, 1] and d["num_classes"] == 10
    assert "<table" in shapes_small._repr_html_()
