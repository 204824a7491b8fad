"""Sparse inference through real tfmot (XNNPACK policy), the TFLite converter and LiteRT."""

import numpy as np
import pytest

import artspeed
from artspeed import InvalidArgumentError, ModelError
from artspeed.compress.pruning import (
    check_pruning_policy,
    pad_for_xnnpack,
    prune_low_magnitude,
    sparsity_report,
    strip_pruning,
)
from artspeed.compress.ptq import QuantizedModel, convert_to_tflite
from artspeed.compress.sparse_inference import (
    SparseSpeedup,
    SparseTFLite,
    inspect_sparse_tflite,
    sparse_speedup,
)
from artspeed.core.env import _cpu
from artspeed.core.frameworks import tf_keras, tfmot
from artspeed.runtimes.tflite import TFLitePredictor

L = tf_keras.layers
ONE_BY_ONE = ("expand", "project")


def xnnpack_shaped(seed=0, stem_padding="explicit"):
    """The smallest model tfmot's XNNPACK policy takes: a padded 3x3 stride-2 stem on 3
    channels, 1x1 and depthwise convs, ReLUs, a global average pool."""
    tf_keras.utils.set_random_seed(seed)
    x = L.Input((32, 32, 3))
    if stem_padding == "explicit":
        y = L.Conv2D(8, 3, strides=2, name="stem")(L.ZeroPadding2D(1)(x))
    else:
        y = L.Conv2D(8, 3, strides=2, padding="same", name="stem")(x)
    y = L.ReLU(6.0)(y)
    y = L.Conv2D(32, 1, name="expand")(y)
    y = L.BatchNormalization()(y)
    y = L.ReLU()(y)
    y = L.ZeroPadding2D(((0, 1), (0, 1)))(y)           # Keras's MobileNetV2 pads like this
    y = L.DepthwiseConv2D(3, strides=2, name="dw")(y)
    y = L.ReLU()(y)
    y = L.Conv2D(16, 1, name="project")(y)
    y = L.GlobalAveragePooling2D()(y)
    y = L.Dense(4, name="logits")(y)
    return tf_keras.Model(x, y, name="tiny_xnnpack")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((16, 32, 32, 3), np.float32)


@pytest.fixture(scope="module")
def pruned(images):
    model = pad_for_xnnpack(xnnpack_shaped())
    wrapped = prune_low_magnitude(model, 0.8, pruning_policy="xnnpack", total_steps=2)
    wrapped.compile(tf_keras.optimizers.Adam(1e-3), "mse")
    wrapped.fit(images, np.zeros((len(images), 4)), batch_size=8, verbose=0,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return model, wrapped, strip_pruning(wrapped)


@pytest.fixture(scope="module")
def files(pruned, tmp_path_factory):
    dense, _, stripped = pruned
    folder = tmp_path_factory.mktemp("sparse")
    return {"dense": convert_to_tflite(dense, "float32", path=folder / "dense.tflite"),
            "pruned_dense": convert_to_tflite(stripped, "float32", path=folder / "pd.tflite"),
            "sparse": convert_to_tflite(stripped, "sparse", path=folder / "sparse.tflite")}


def test_the_xnnpack_policy_prunes_only_the_1x1_convs_to_the_target(pruned):
    _, wrapped, stripped = pruned
    assert sorted(layer.name for layer in wrapped.layers
                  if layer.name.startswith("prune_low_magnitude_")) == \
        sorted(f"prune_low_magnitude_{name}" for name in ONE_BY_ONE)
    report = sparsity_report(stripped, {name: 0.8 for name in ONE_BY_ONE})
    for name in ONE_BY_ONE:
        assert report.layer(name).achieved_sparsity == pytest.approx(0.8, abs=0.01), name
    for name in ("stem", "logits"):
        assert report.layer(name).achieved_sparsity == 0.0, name


def test_the_sparse_mode_stores_the_pruned_kernels_sparse(files):
    sparse, dense = files["sparse"], files["pruned_dense"]
    assert isinstance(sparse, QuantizedModel) and sparse.mode == "sparse"
    assert sparse.sparse_tensors == len(ONE_BY_ONE) and dense.sparse_tensors == 0
    assert sparse.op_kinds["convert"] == len(ONE_BY_ONE)          # one DENSIFY each
    assert "DENSIFY" not in sparse.float_ops
    assert sparse.size_bytes < dense.size_bytes     # zeros left out (indices added)
    assert QuantizedModel.from_dict(sparse.to_dict()) == sparse
    with pytest.raises(InvalidArgumentError, match="needs no representative data"):
        convert_to_tflite(xnnpack_shaped(), "sparse", np.zeros((4, 32, 32, 3), np.float32))


def test_the_sparse_file_computes_what_the_pruned_keras_model_does(pruned, files, images):
    _, _, stripped = pruned
    expected = stripped(images[:4], training=False).numpy()
    assert np.abs(expected).max() > 1e-4       # not a model whose outputs vanish
    for xnnpack in (True, False):
        predictor = TFLitePredictor(files["sparse"].path, threads=1, xnnpack=xnnpack)
        assert predictor.describe()["xnnpack"] is xnnpack
        np.testing.assert_allclose(predictor(images[:4]), expected, atol=1e-5, rtol=1e-4)


def test_inspection_counts_the_sparse_tensors_and_what_xnnpack_took(files):
    report = inspect_sparse_tflite(files["sparse"], threads=1)
    assert isinstance(report, SparseTFLite)
    assert (report.sparse_tensors, report.densify_ops) == (2, 2)
    assert report.sparse_weights == 32 * 8 + 16 * 32
    assert report.zeros == pytest.approx(0.8, abs=0.01)
    assert report.xnnpack_partitions >= 1 and report.xnnpack_ops == report.ops
    assert report.sparse_tensors_in_xnnpack == 2
    avx = "avx" in _cpu()[1]
    assert report.x86_avx is avx and any("AVX" in r for r in report.reasons) is avx
    assert report.sparse_inference_possible is not avx
    assert "XNN_FLAG_HINT_SPARSE_INFERENCE" in " ".join(report.evidence())
    assert SparseTFLite.from_dict({**report.to_dict(), "reasons": report.reasons}) == report
    dense = inspect_sparse_tflite(files["pruned_dense"].path)
    assert dense.sparse_tensors == 0 and dense.densify_ops == 0
    assert dense.reasons[0].startswith("the file stores no tensor sparse")
    with pytest.raises(ModelError, match="no TFLite model"):
        inspect_sparse_tflite("missing.tflite")


def test_sparse_speedup_times_the_files_and_explains(files):
    run = sparse_speedup(files["dense"], files["sparse"], pruned_dense=files["pruned_dense"],
                         threads=(1,), rounds=1, duration_s=0.05)
    assert run.threads == (1,) and len(run.speedups) == 1
    assert min(run.dense_latency_ms + run.sparse_latency_ms + run.pruned_dense_latency_ms) > 0
    assert run.outputs_vary is True and run.outputs_max_difference < 1e-4
    assert run.inspection.sparse_tensors == 2 and run.env.available_cores >= 1
    assert run.why(target=1e-6) == []
    why = run.why(target=1e6)
    assert why[0].startswith("measured with XNNPACK") and "stored dense" in why[1]
    assert SparseSpeedup.from_json(run.to_json()) == run
    assert "<table" in run._repr_html_() and "SparseSpeedup" in repr(run)
    with pytest.raises(InvalidArgumentError, match="rounds"):
        sparse_speedup(files["dense"], files["sparse"], threads=(1,), rounds=0)


def test_the_policy_refuses_a_model_xnnpack_cannot_run_sparse():
    message = r"PruneForLatencyOnXNNPack rejects baseline_cnn: .*pad_for_xnnpack"
    with pytest.raises(ModelError, match=message):
        check_pruning_policy(artspeed.baseline_cnn(width=2))
    with pytest.raises(ModelError, match=message):
        prune_low_magnitude(artspeed.baseline_cnn(width=2), 0.8, pruning_policy="xnnpack")
    with pytest.raises(ModelError, match="rejects tiny_xnnpack"):   # 'same' stem padding
        check_pruning_policy(xnnpack_shaped(stem_padding="same"))
    with pytest.raises(InvalidArgumentError, match="pruning_policy must be None, 'xnnpack'"):
        prune_low_magnitude(xnnpack_shaped(), 0.8, pruning_policy="fast")
    with pytest.raises(InvalidArgumentError, match="does not prune stem; the layers it prunes "
                                                   "are expand, project"):
        prune_low_magnitude(pad_for_xnnpack(xnnpack_shaped()), 0.8, layers=["stem", "expand"],
                            pruning_policy="xnnpack")
    with pytest.raises(ModelError, match="allows expand, project, all skipped"):
        prune_low_magnitude(pad_for_xnnpack(xnnpack_shaped()), 0.8, skip=list(ONE_BY_ONE),
                            pruning_policy=tfmot.sparsity.keras.PruneForLatencyOnXNNPack())


def test_pad_for_xnnpack_keeps_shapes_and_weights_and_passes_the_policy(images):
    model = xnnpack_shaped(stem_padding="same")
    padded = pad_for_xnnpack(model)
    check_pruning_policy(padded)
    assert padded.output_shape == model.output_shape
    assert padded.count_params() == model.count_params()
    assert padded.get_layer("stem").padding == "valid"
    assert padded.get_layer("stem_pad").padding == ((1, 1), (1, 1))
    pads = [layer.padding for layer in padded.layers if isinstance(layer, L.ZeroPadding2D)]
    assert ((1, 1), (1, 1)) in pads and ((0, 1), (0, 1)) not in pads
    for name in ("stem", "expand", "dw", "project", "logits"):
        for old, new in zip(model.get_layer(name).get_weights(),
                            padded.get_layer(name).get_weights()):
            np.testing.assert_array_equal(old, new)
    assert padded(images[:2]).shape == model(images[:2]).shape
    x = L.Input((8, 8, 3))
    shared = L.Conv2D(3, 1)
    with pytest.raises(ModelError, match="more than once"):
        pad_for_xnnpack(tf_keras.Model(x, shared(shared(x))))
