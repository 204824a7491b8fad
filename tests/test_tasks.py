"""Tasks beyond classifiers: the segmentation and regression datasets, the UNet, and each
task scored by its own metric (evaluate, agreement, variant tables)."""

import numpy as np
import pytest

import artspeed
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.frameworks import tf_keras as keras


@pytest.fixture(scope="module")
def seg():
    return artspeed.load_dataset("shapes_seg", limit_train=64, limit_test=24)


@pytest.fixture(scope="module")
def seg_multi():
    return artspeed.load_dataset("shapes_seg_multi", limit_train=32, limit_test=12)


@pytest.fixture(scope="module")
def small_unet(seg):
    model = artspeed.unet(filters=4, depth=2)
    model.history_record = artspeed.train(model, seg, epochs=3, progress=False)
    return model


def test_segmentation_datasets_are_the_scenes_with_their_masks(seg, seg_multi):
    x, labels, masks, sizes = artspeed.make_scene_targets(24, seed=1)
    assert seg.task == seg_multi.task == "segmentation"
    assert seg.input_shape == (96, 96, 3) and seg.y_test.shape == (24, 96, 96)
    assert np.array_equal(seg.x_test, x.astype(np.float32) / 255)
    assert np.array_equal(seg.y_test, (masks > 0).astype(np.int32))
    assert np.array_equal(seg_multi.y_test, masks[:12])
    assert seg.class_names == ("background", "shape") and seg_multi.num_classes == 11
    # each scene's main shape is labelled with its class, and is the biggest region
    for mask, label in zip(masks, labels):
        counts = np.bincount(mask.ravel(), minlength=11)[1:]
        assert counts.argmax() == label
    # deterministic by seed, and a smaller set is the bigger one's prefix
    again = artspeed.load_dataset("shapes_seg", limit_train=8, limit_test=8)
    assert np.array_equal(again.y_train, seg.y_train[:8])
    assert "2 classes per pixel" in repr(seg) and seg.to_dict()["task"] == "segmentation"


def test_regression_dataset_holds_the_shape_sizes():
    ds = artspeed.load_dataset("scenes_size", limit_train=10, limit_test=10)
    assert ds.task == "regression" and ds.y_train.dtype == np.float32
    assert ds.y_train.shape == (10,) and 16 <= ds.y_train.min() and ds.y_train.max() <= 30
    assert np.allclose(ds.y_test, artspeed.make_scene_targets(10, seed=1)[3])


def test_a_dataset_of_your_own_gets_its_task_from_its_labels():
    x = np.zeros((4, 8, 8, 1), np.float32)
    masks = artspeed.Dataset("m", x, np.zeros((4, 8, 8), int), x, np.zeros((4, 8, 8), int),
                             ("a", "b"), "test")
    values = artspeed.Dataset("v", x, np.linspace(0, 1, 4), x, np.linspace(0, 1, 4), ("t",),
                              "test")
    labels = artspeed.Dataset("c", x, np.arange(4), x, np.arange(4), tuple("abcd"), "test")
    assert (masks.task, values.task, labels.task) == ("segmentation", "regression",
                                                      "classification")
    with pytest.raises(InvalidArgumentError, match="unknown task 'detection'"):
        artspeed.Dataset("c", x, np.arange(4), x, np.arange(4), tuple("abcd"), "test",
                         "detection")


def test_unet_layers_and_outputs():
    binary, multi = artspeed.unet(filters=4, depth=2), artspeed.unet(num_classes=11, filters=4)
    kinds = {type(layer).__name__ for layer in binary.layers}
    assert {"Conv2DTranspose", "Concatenate", "MaxPooling2D"} <= kinds
    assert binary.output_shape == (None, 96, 96, 1) and multi.output_shape == (None, 96, 96, 11)
    with pytest.raises(InvalidArgumentError, match="multiples of 8"):
        artspeed.unet((28, 28, 1), depth=3)


def test_mean_iou_and_dice_agree_with_keras():
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 4, (3, 16, 16)), rng.integers(0, 4, (3, 16, 16))
    metric = keras.metrics.MeanIoU(num_classes=4)
    metric.update_state(truth, predicted)
    assert artspeed.mean_iou(predicted, truth, 4) == pytest.approx(float(metric.result()))
    # per class, Dice = 2 IoU / (1 + IoU)
    ious = [np.sum((truth == k) & (predicted == k)) / np.sum((truth == k) | (predicted == k))
            for k in range(4)]
    assert artspeed.dice(predicted, truth, 4) == pytest.approx(
        np.mean([2 * iou / (1 + iou) for iou in ious]))


def test_training_the_unet_learns_the_masks(small_unet, seg):
    losses = small_unet.history_record.metrics["loss"]   # binary cross-entropy on the masks
    assert losses[-1] < losses[0] and "binary_accuracy" in small_unet.history_record.metrics
    trained = artspeed.evaluate(small_unet, seg)
    assert trained.metric == "mean_iou" and trained.task == "segmentation"
    assert set(trained.scores) == {"mean_iou", "dice", "pixel_accuracy"}
    outputs = small_unet.predict(seg.x_test, verbose=0)
    labels = (outputs[..., 0] >= 0.5).astype(int)
    assert trained.value == pytest.approx(artspeed.mean_iou(labels, seg.y_test, 2))
    assert "mean IoU" in repr(trained) and artspeed.Score.from_json(trained.to_json()) == trained


def test_a_metric_of_your_own(small_unet, seg):
    def foreground_share(outputs, truth):
        return float(np.mean(outputs[..., 0] >= 0.5))

    score = artspeed.evaluate(small_unet, seg, metric=foreground_share)
    assert score.metric == "foreground_share" and 0 <= score.value <= 1
    with pytest.raises(InvalidArgumentError, match="a metric is a function"):
        artspeed.evaluate(small_unet, seg, metric="iou")


def test_models_that_do_not_fit_the_task_are_one_clear_line(seg, seg_multi):
    classifier = artspeed.baseline_cnn((96, 96, 3), num_classes=2, width=2)
    with pytest.raises(InvalidArgumentError) as info:
        artspeed.evaluate(classifier, seg)
    assert str(info.value) == (
        "artspeed.evaluate: the model's outputs have shape (None, 2), but segmentation of "
        "shapes_seg needs (None, 96, 96, 2 or 1 (a sigmoid)); give it a model of that output "
        "shape")
    with pytest.raises(InvalidArgumentError, match=r"needs \(None, 96, 96, 11\)"):
        artspeed.evaluate(artspeed.unet(filters=2, depth=1), seg_multi)
    with pytest.raises(InvalidArgumentError, match="task classification needs a dataset of "
                                                   "classification labels, but shapes_seg"):
        artspeed.accuracy(artspeed.unet(filters=2, depth=1), seg)
    with pytest.raises(InvalidArgumentError, match="task regression needs"):
        artspeed.evaluate(artspeed.unet(filters=2, depth=1), seg, task="regression")
    with pytest.raises(InvalidArgumentError, match="unknown task 'segment'"):
        artspeed.evaluate(artspeed.unet(filters=2, depth=1), seg, task="segment")


def test_regression_is_scored_by_mae():
    ds = artspeed.load_dataset("scenes_size", limit_train=32, limit_test=16)
    inputs = keras.Input((96, 96, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(pooled))
    artspeed.train(model, ds, epochs=1, progress=False)
    score = artspeed.evaluate(model, ds)
    predicted = model.predict(ds.x_test, verbose=0)[:, 0]
    assert score.metric == "mae"
    assert score.value == pytest.approx(np.mean(np.abs(predicted - ds.y_test)), rel=1e-5)
    with pytest.raises(InvalidArgumentError, match="regression has no agreement"):
        artspeed.agreement(model, model, ds)


def test_variant_tables_score_segmentation_by_mean_iou(small_unet, seg, tmp_path):
    int8 = artspeed.convert_to_tflite(small_unet, "int8", seg, calibration_samples=8,
                                      input_type="uint8", output_type="uint8",
                                      path=tmp_path / "unet-int8.tflite")
    table = artspeed.measure_variants({"keras": small_unet, "int8": int8}, seg,
                                      reference=small_unet, rounds=1, duration_s=0.05)
    keras_row, int8_row = table["keras"], table["int8"]
    assert keras_row.metric == "mean_iou" and keras_row.accuracy is None
    assert keras_row.score == keras_row.float_score == artspeed.evaluate(small_unet, seg).value
    assert keras_row.agreement == 1.0 and 0.9 <= int8_row.agreement <= 1.0
    predictor = artspeed.load_predictor(int8.path)
    assert int8_row.score == pytest.approx(artspeed.evaluate(predictor, seg).value)
    assert int8_row.agreement == pytest.approx(artspeed.agreement(predictor, small_unet, seg))
    text = str(table)
    assert "mean IoU" in text and "drop (points)" in text and "accuracy" not in text
    again = artspeed.VariantTable.from_dict(table.to_dict())
    assert again["int8"].drop == pytest.approx(int8_row.drop)


def test_old_variant_records_read_as_accuracy():
    row = artspeed.VariantReport("a", "tflite", None, 10, 5, 0.9, 0.92, 0.99)
    assert (row.metric, row.score, row.float_score) == ("accuracy", 0.9, 0.92)
    assert row.drop == pytest.approx(2.0) == row.accuracy_drop_points


def test_multi_class_masks_train_with_a_softmax_per_pixel(seg_multi):
    model = artspeed.unet(num_classes=11, filters=4, depth=2)
    history = artspeed.train(model, seg_multi, epochs=2, progress=False, validate=False)
    assert history.metrics["loss"][1] < history.metrics["loss"][0]
    score = artspeed.evaluate(model, seg_multi)
    labels = model.predict(seg_multi.x_test, verbose=0).argmax(-1)
    assert score.value == pytest.approx(artspeed.mean_iou(labels, seg_multi.y_test, 11))


def test_the_command_line_scores_a_unet_by_mean_iou(small_unet, tmp_path):
    import json

    from conftest import run_cli_many

    model = artspeed.save_model(small_unet, tmp_path / "unet.keras")
    data = ["--dataset", "shapes_seg", "--limit-train", "64"]
    runs = run_cli_many({
        "quantize": ["quantize", str(model), "--mode", "int8", "--io", "uint8", *data,
                     "--calibration-samples", "8", "--out", str(tmp_path / "q.tflite"),
                     "--json"],
        "bench": ["bench", str(tmp_path / "q.tflite"), *data, "--task", "segmentation",
                  "--duration", "0.2", "--json"],
        "deploy": ["deploy", str(model), "--precision", "f32", *data, "--out",
                   str(tmp_path / "ir"), "--json"],
        "prune": ["prune", str(model), "--sparsity", "0.5", "--epochs", "1", *data,
                  "--task", "segmentation", "--out", str(tmp_path / "p.keras"), "--json"],
        "tour": ["tour", str(model), "--dataset", "shapes_seg", "--quick", "--variants",
                 "tflite-int8,openvino-int8", "--out", str(tmp_path / "tour"), "--json"],
        "quantize-text": ["quantize", str(model), "--mode", "float16", *data, "--out",
                          str(tmp_path / "f16.tflite")],
    })
    for key, (code, _out, err) in runs.items():
        assert code == 0, (key, err[-2000:])
    quantized = json.loads(runs["quantize"][1])
    assert quantized["metric"] == "mean_iou" and quantized["accuracy"] is None
    assert quantized["input_dtype"] == quantized["output_dtype"] == "uint8"
    assert 0 <= quantized["score"] <= 1 and 0.5 <= quantized["agreement"] <= 1
    scored = json.loads(runs["bench"][1])["score"]
    assert scored["metric"] == "mean_iou" and scored["value"] == pytest.approx(
        quantized["score"])
    deployed = json.loads(runs["deploy"][1])
    assert deployed["metric"] == "mean_iou" and deployed["top1_agreement"] > 0.99
    assert deployed["score"] == pytest.approx(deployed["reference_score"], abs=0.01)
    pruned = json.loads(runs["prune"][1])
    assert pruned["metric"] == "mean_iou" and pruned["achieved_sparsity"] == pytest.approx(
        0.5, abs=0.02)
    tour = json.loads(runs["tour"][1])
    assert [v["metric"] for v in tour["variants"]] == ["mean_iou"] * 3
    page = (tmp_path / "tour" / "report.html").read_text(encoding="utf-8")
    assert "mean IoU against latency" in page and "within 1 point of the baseline's mean IoU" \
        in page
    text = runs["quantize-text"][1]
    assert "mean IoU" in text and "pixels with the float model" in text


def test_a_real_segmentation_dataset_loads_through_the_same_path(tmp_path, monkeypatch):
    # Oxford-IIIT Pet: with a network Keras' get_file downloads it once; offline, its arrays
    # come from ARTSPEED_DATA_DIR/oxford_pets.npz like any other dataset's
    from artspeed.core.errors import DatasetError

    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (6, 96, 96, 3), np.uint8),
              "y_train": rng.integers(0, 2, (6, 96, 96), np.uint8),
              "x_test": rng.integers(0, 256, (4, 96, 96, 3), np.uint8),
              "y_test": rng.integers(0, 2, (4, 96, 96), np.uint8)}
    np.savez(tmp_path / "oxford_pets.npz", **arrays)
    monkeypatch.setenv("ARTSPEED_DATA_DIR", str(tmp_path))
    ds = artspeed.load_dataset("oxford_pets")
    assert ds.task == "segmentation" and ds.class_names == ("background", "pet")
    assert np.array_equal(ds.y_test, arrays["y_test"]) and ds.x_test.max() <= 1.0
    assert artspeed.evaluate(artspeed.unet(filters=2, depth=1), ds).metric == "mean_iou"
    np.savez(tmp_path / "oxford_pets.npz", **{**arrays, "y_test": arrays["y_test"][:, :48]})
    with pytest.raises(DatasetError, match=r"masks are a class index per pixel, of shape "
                                           r"\(4, 96, 96\)"):
        artspeed.load_dataset("oxford_pets")
    (tmp_path / "oxford_pets.npz").unlink()
    monkeypatch.setenv("ARTSPEED_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DatasetError, match="oxford_pets.npz"):
        artspeed.load_dataset("oxford_pets")


def test_channel_pruning_narrows_the_unet_inside_its_blocks(seg):
    model = artspeed.unet(filters=8, depth=2)
    result = artspeed.channel_pruning(model, seg, 0.5, epochs=1, progress=False)
    # the first conv of each block is halved; the convs whose outputs a skip connection
    # or a transpose convolution reads keep their width, so every concatenation still fits
    assert result.filters["down0_conv1"] == [8, 4] and result.filters["down0_conv2"] == [8, 8]
    assert result.filters["bottom_conv2"] == [32, 32] and result.filters["mask"] == [1, 1]
    narrow = result.model
    assert narrow.output_shape == (None, 96, 96, 1)
    assert narrow.get_layer("up0_concat").output.shape[-1] == 16
    assert result.macs_ratio > 1.5 and result.metric == "mean_iou"
    tflite = artspeed.convert_to_tflite(narrow, "float32")
    keras_out = narrow.predict(seg.x_test[:2], verbose=0)
    assert np.allclose(tflite.predictor()(seg.x_test[:2]), keras_out, atol=1e-4)


def test_qat_and_the_seeds_pruning_schedule_on_the_unet(small_unet, seg, tmp_path):
    qat = artspeed.quantization_aware_training(small_unet, seg, epochs=1, progress=False,
                                               path=tmp_path / "qat.tflite")
    assert qat.metric == "mean_iou" and qat.qat_accuracy is None
    assert qat.baseline_score == pytest.approx(artspeed.evaluate(small_unet, seg).value)
    # tfmot quantizes the Conv2DTranspose and the concatenations too: every op runs in int8
    assert not qat.quantized.float_ops, qat.quantized.float_ops
    assert qat.quantized.op_kinds["int8"] > 0
    pruned = artspeed.magnitude_pruning(small_unet, seg, 0.8, schedule="polynomial",
                                        initial_sparsity=0.5, epochs=2, progress=False)
    assert pruned.report.achieved_sparsity == pytest.approx(0.8, abs=0.02)
    assert pruned.metric == "mean_iou" and "mean IoU" in repr(pruned)
