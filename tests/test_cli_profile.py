"""`artspeed profile`: applications without weights, saved models, bad SPECs."""

import artspeed  # noqa: I001  (before TensorFlow: selects Keras 2)

import json

from artspeed.cli import main

KEYS = {"total_params", "trainable_params", "non_trainable_params", "macs", "flops",
        "weights_bytes", "peak_activation_bytes", "batch_size", "warnings", "layers"}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_application_json(capsys):
    code, out, _ = run(capsys, "profile", "keras.applications.MobileNetV2",
                       "--input-shape", "96,96,3", "--batch-size", "2", "--json")
    assert code == 0
    data = json.loads(out)
    assert KEYS <= set(data)
    assert data["batch_size"] == 2 and data["total_params"] == 3_538_984
    assert data["layers"][0]["output_shape"] == [2, 96, 96, 3]
    for row in data["layers"]:
        assert {"name", "type", "output_shape", "params", "macs", "flops"} <= set(row)


def test_saved_model_text(capsys, tmp_path):
    path = artspeed.save_model(artspeed.dense_example(), tmp_path / "dense.keras")
    code, out, _ = run(capsys, "profile", str(path))
    assert code == 0
    assert "387 (249 trainable, 138 not)" in out and "MACs         345" in out


def test_bad_specs(capsys, tmp_path):
    code, _, err = run(capsys, "profile", "resnet50")
    assert code == 2 and "keras.applications.NAME" in err and ".keras" in err
    missing = tmp_path / "gone.keras"
    code, _, err = run(capsys, "profile", str(missing))
    assert code == 2 and str(missing) in err and "does not exist" in err
    code, _, err = run(capsys, "profile", "keras.applications.NoSuchNet")
    assert code == 2 and "ResNet50" in err
    code, _, err = run(capsys, "profile", "keras.applications.VGG16", "--input-shape", "8,8,3")
    assert code == 2 and "at least 32x32" in err
    code, _, err = run(capsys, "profile", str(tmp_path), "--input-shape", "3")
    assert code == 2
    try:
        main(["profile", "keras.applications.VGG16", "--input-shape", "a,b"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "224,224,3" in capsys.readouterr().err
