"""artspeed.data: sources in order, normalization, pipelines, and the offline errors."""

import gzip
import io
import json
import time
import zipfile

import numpy as np
import pytest
from conftest import run_cli

import artspeed
from artspeed.core import data as data_module
from artspeed.core.errors import DatasetError, InvalidArgumentError


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


def test_builtin_scenes_are_colour_96px_balanced_and_a_prefix_of_a_bigger_set():
    small = artspeed.load_dataset("scenes", limit_train=40, limit_test=20)
    bigger = artspeed.load_dataset("scenes", limit_train=60, limit_test=30)
    assert small.input_shape == (96, 96, 3) and small.class_names == artspeed.SHAPE_NAMES
    assert small.x_train.dtype == np.float32 and small.x_train.max() <= 1.0
    assert np.array_equal(small.x_train, bigger.x_train[:40])
    assert np.array_equal(small.y_test, bigger.y_test[:20])
    assert np.bincount(small.y_train).tolist() == [4] * 10
    # colour: the three channels differ, and the background varies (clutter, gradient)
    assert np.abs(small.x_train[..., 0] - small.x_train[..., 1]).mean() > 0.05
    assert small.x_train.std(axis=(1, 2)).min() > 0.05
    assert not np.array_equal(small.x_train[:20], small.x_test)
    with pytest.raises(InvalidArgumentError, match="num_samples"):
        artspeed.make_scenes(-1)


def test_scenes_are_not_trivial_for_a_linear_classifier():
    """Colour and clutter hide the shape from pixel templates: nearest class mean is weak."""
    ds = artspeed.load_dataset("scenes", limit_train=1000, limit_test=300)
    x_train, x_test = ds.x_train.reshape(1000, -1), ds.x_test.reshape(300, -1)
    means = np.stack([x_train[ds.y_train == k].mean(0) for k in range(10)])
    pred = np.argmin(((x_test[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(pred == ds.y_test) < 0.35


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


def _truncated(path):
    _write_npz(path)
    path.write_bytes(path.read_bytes()[:2000])


def _bad_member(path):
    arrays = _write_npz(path)
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, value)
            archive.writestr(f"{key}.npy", b"garbage" if key == "x_train" else buffer.getvalue())


def _npy(path):
    with open(path, "wb") as f:
        np.save(f, np.zeros((40, 28, 28), np.uint8))


def _overrides(**arrays):
    return lambda path: _write_npz(path, **arrays)


def _floats(value, n=40):
    x = np.zeros((n, 28, 28), np.float32)
    x[0, 0, 0] = value
    return x


_OBJECTS = np.empty(40, dtype=object)
_OBJECTS[:] = [np.zeros((28, 28))] * 40

BAD_FILES = {
    "not a zip": (lambda path: path.write_bytes(b"not a zip file"), "not a zip archive"),
    "empty file": (lambda path: path.write_bytes(b""), "not a readable .npz"),
    "truncated": (_truncated, "truncated"),
    "bad member": (_bad_member, "x_train cannot be read"),
    "a .npy": (_npy, "single .npy array"),
    "missing key": (_overrides(x_test=None), "lacks x_test"),
    "misnamed keys": (lambda path: np.savez(path, images=np.zeros((4, 28, 28), np.uint8),
                                            labels=np.zeros(4, np.uint8)),
                      "lacks x_train, y_train, x_test, y_test (it holds images, labels)"),
    "object dtype": (_overrides(x_train=_OBJECTS), "Python objects (object dtype"),
    "wrong shape": (_overrides(shape=(32, 32)), "shape (32, 32, 1), expected (28, 28, 1)"),
    "strings": (_overrides(y_test=np.array(["cat"] * 20)), "y_test has dtype <U3"),
    "bool": (_overrides(x_train=np.zeros((40, 28, 28), bool)), "x_train has dtype bool"),
    "complex": (_overrides(y_train=np.zeros(40, complex)), "y_train has dtype complex128"),
    "fractional labels": (_overrides(y_train=np.full(40, 0.5)), "not whole numbers"),
    "labels too big": (_overrides(y_test=np.full(20, 10)), "labels from 10 to 10, out of range [0, 10)"),
    "negative labels": (_overrides(y_train=np.full(40, -1)), "labels from -1 to -1, out of range"),
    "one-hot labels": (_overrides(y_train=np.eye(10)[np.arange(40) % 10]), "one-hot"),
    "NaN pixels": (_overrides(x_train=_floats(np.nan)), "NaN or infinite pixels"),
    "infinite pixels": (_overrides(x_test=_floats(np.inf, 20)), "NaN or infinite pixels"),
    "negative pixels": (_overrides(x_train=_floats(-3.0)), "pixels from -3 to 0, out of range"),
    "pixels above 255": (_overrides(x_train=np.full((40, 28, 28), 300, np.int16)),
                         "pixels from 300 to 300, out of range [0, 255]"),
    "no train samples": (_overrides(n_train=0), "x_train is empty: no train samples"),
    "no test samples": (_overrides(n_test=0), "x_test is empty: no test samples"),
    "counts differ": (_overrides(y_train=np.zeros(3, np.uint8)), "40 train images but 3 labels"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_npz_is_a_clear_error_naming_the_file(tmp_path, monkeypatch, case):
    make, problem = BAD_FILES[case]
    make(tmp_path / "mnist.npz")
    monkeypatch.setenv("ARTSPEED_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError) as excinfo:
        artspeed.load_dataset("mnist")
    message = str(excinfo.value)
    assert problem in message, message
    assert message.startswith(str(tmp_path / "mnist.npz")), message
    assert "re-create it with numpy.savez('mnist.npz'" in message and "\n" not in message


def test_a_good_npz_of_floats_and_channel_axis_loads(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    _write_npz(tmp_path / "mnist.npz", x_train=rng.random((40, 28, 28, 1)),
               y_train=np.arange(40.0).reshape(40, 1) % 10)
    monkeypatch.setenv("ARTSPEED_DATA_DIR", str(tmp_path))
    ds = artspeed.load_dataset("mnist")
    assert ds.x_train.shape == (40, 28, 28, 1) and ds.x_train.max() <= 1.0
    assert ds.y_train.tolist() == [k % 10 for k in range(40)]


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(DatasetError, match="unknown dataset 'nope'.*fashion_mnist, mnist, "
                                           "cifar10, shapes, scenes"):
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


@pytest.fixture
def nothing_at_all(no_sources, monkeypatch):
    """No data folder, no Keras cache, no ARTSPEED_DATASET and downloads off."""
    monkeypatch.delenv("ARTSPEED_DATASET", raising=False)
    monkeypatch.setenv("ARTSPEED_OFFLINE", "1")
    return no_sources


def test_the_default_dataset_falls_back_to_shapes_with_one_line(nothing_at_all, capsys):
    ds = artspeed.load_dataset(limit_train=50, limit_test=20)
    assert ds.name == "shapes" and ds.input_shape == (28, 28, 1) and ds.num_classes == 10
    assert ds.source == "built-in (generated, seed 0), fallback for fashion_mnist"
    assert len(ds.x_train) == 50 and len(ds.y_test) == 20
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert all(word in lines[0] for word in ("fashion_mnist", "'shapes'", "ARTSPEED_DATA_DIR"))


@pytest.mark.parametrize("named_by", ["argument", "ARTSPEED_DATASET"])
def test_a_named_dataset_never_falls_back(nothing_at_all, monkeypatch, capsys, named_by):
    if named_by == "ARTSPEED_DATASET":
        monkeypatch.setenv("ARTSPEED_DATASET", "fashion_mnist")
    with pytest.raises(DatasetError, match="cannot load 'fashion_mnist'.*ARTSPEED_OFFLINE.*"
                                           "ARTSPEED_DATA_DIR") as excinfo:
        artspeed.load_dataset("fashion_mnist" if named_by == "argument" else None)
    assert type(excinfo.value) is DatasetError and capsys.readouterr().err == ""


def test_a_corrupt_default_file_is_an_error_not_a_fallback(nothing_at_all, tmp_path,
                                                            monkeypatch):
    (tmp_path / "fashion_mnist.npz").write_bytes(b"not a zip file")
    monkeypatch.setenv("ARTSPEED_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="fashion_mnist.npz: not a readable .npz"):
        artspeed.load_dataset()


def _train_without_data(tmp_path, *extra):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return run_cli("train", "--epochs", "1", "--limit-train", "200", "--width", "4",
                   "--json", "--out", str(tmp_path / "m.keras"), *extra,
                   env_drop=("ARTSPEED_DATA_DIR", "ARTSPEED_DATASET"), HOME=str(home),
                   ARTSPEED_OFFLINE="1", ARTSPEED_FAST="1")


def test_cli_without_a_dataset_falls_back_to_shapes(tmp_path):
    result = _train_without_data(tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m.keras").is_file()
    payload = json.loads(result.stdout)
    assert payload["dataset"] == "shapes" and "fallback for fashion_mnist" in payload["source"]
    # TensorFlow may log to stderr too (absl, before TF_CPP_MIN_LOG_LEVEL applies).
    ours = [line for line in result.stderr.splitlines() if "artspeed" in line or "shapes" in line]
    assert len(ours) == 1, result.stderr
    assert result.stderr.startswith("artspeed: fashion_mnist could not be loaded")
    assert "using the built-in dataset 'shapes'" in ours[0]


def test_cli_with_a_named_dataset_still_fails_in_one_line(tmp_path):
    result = _train_without_data(tmp_path, "--dataset", "fashion_mnist")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "cannot load 'fashion_mnist'" in lines[0] and not (tmp_path / "m.keras").exists()
