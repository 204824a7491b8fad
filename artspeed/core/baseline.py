"""The workbook's trained models, trained once and reused: ``trained_baseline``, ``trained_vehicle``.

Chapter 00 trains ``baseline_cnn`` with ``train`` and saves it with a JSON
record (``<name>.keras.json`` beside the ``.keras`` file) of what it was trained on:
the dataset (name, source, sizes, shape, classes and a digest of its arrays),
the width, dropout, epochs, learning rate, seed, fast mode and the versions of
artspeed and TensorFlow. Any later call that asks for the same finds the file
and loads it instead of training; a different request, a file that does not
match its record, or one that cannot be loaded is trained again and replaced.
``trained_vehicle`` does the same for the speed lessons' ``vehicle`` on ``scenes``, and
``trained_unet`` for the segmentation lessons' ``unet`` on ``shapes_seg``.

>>> import tempfile, pathlib
>>> from artspeed import load_dataset
>>> ds = load_dataset("shapes", limit_train=256, limit_test=64)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "baseline.keras"
>>> first = trained_baseline(ds, width=4, epochs=1, path=path, progress=False)  # doctest: +ELLIPSIS
trained the baseline (width 4, 1 epoch on shapes, 256 images) in ... s; saved to .../baseline.keras
>>> again = trained_baseline(ds, width=4, epochs=1, path=path)  # doctest: +ELLIPSIS
reused the baseline .../baseline.keras (width 4, 1 epoch on shapes, 256 images)
>>> again.reused, again.history.epochs
(True, 1)
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artspeed.core import _checks
from artspeed.core._io import check_writable_dir, file_sha256, signals_deferred, write_text_atomic
from artspeed.core._result import Result
from artspeed.core.config import fast_mode
from artspeed.core.data import Dataset, as_dataset
from artspeed.core.env import _version
from artspeed.core.errors import ArtspeedError, InvalidArgumentError
from artspeed.core.models import VEHICLE_FUSED_STAGES, baseline_cnn, unet, vehicle
from artspeed.core.saving import keras_target, load_model, save_model
from artspeed.core.training import TrainingHistory, train

__all__ = ["TrainedBaseline", "trained_baseline", "baseline_epochs", "trained_vehicle",
           "vehicle_epochs", "trained_unet", "unet_epochs"]

_VERSIONED = ("artspeed", "tensorflow", "tf_keras")
# in the record, but not part of the request: how the training went, and where from
_NOT_COMPARED = ("history", "model_sha256", "trained_at", "train_seconds", "params")


def baseline_epochs() -> int:
    """The baseline's epochs when none are asked for: 5, or 1 in fast mode."""
    return 1 if fast_mode() else 5


def vehicle_epochs() -> int:
    """The vehicle's epochs when none are asked for: 4, or 1 in fast mode (CI: it checks the
    code path, so the vehicle stays under-trained, as the baseline does).

    Four epochs of the 5,000 scenes take about three minutes on 2 cores and reach
    about 89%; six reach about 92%, and keep ``make demo`` past ten minutes.
    """
    return 1 if fast_mode() else 4


@dataclass(frozen=True, repr=False)
class TrainedBaseline(Result):
    """The trained baseline: the model, what it was trained on, and whether it was reused."""

    model: object
    dataset: Dataset
    history: TrainingHistory
    record: dict               # what it was trained on: the JSON saved beside the model
    path: Path | None = None   # where it is saved (None: not saved)
    reused: bool = False       # loaded from ``path`` instead of trained

    @property
    def test_accuracy(self) -> float | None:
        """The accuracy on the test set after the last epoch (None if it was not validated)."""
        values = self.history.metrics.get("val_accuracy")
        return float(values[-1]) if values else None

    def __repr__(self) -> str:
        how = f"reused from {self.path}" if self.reused else "trained"
        return f"<TrainedBaseline {_describe(self.record)}, {how}>"

    def to_dict(self) -> dict:
        """The record, where the model is, and whether it was reused (no arrays)."""
        return {**self.record, "path": None if self.path is None else str(self.path),
                "reused": self.reused}

    def _html_rows(self):
        yield "model", _describe(self.record)
        yield "path", self.path
        yield "reused", self.reused


def _describe(record: dict) -> str:
    data, epochs = record["dataset"], record["epochs"]
    size = {"vehicle": lambda: f"alpha {record['alpha']}",
            "unet": lambda: f"{record['filters']} filters, depth {record['depth']}"}.get(
                record.get("model"), lambda: f"width {record['width']}")()
    return (f"{size}, {epochs} epoch{'s' * (epochs != 1)} on {data['name']}, "
            f"{data['train_samples']} images")


def _data_sha256(dataset: Dataset) -> str:
    digest = hashlib.sha256()
    for array in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _request(model: str, dataset: Dataset, **settings) -> dict:
    """What is asked for, as the record says it: compared key by key with a saved one."""
    return {"model": model, **settings,
            "dataset": {**dataset.to_dict(), "sha256": _data_sha256(dataset)},
            "fast_mode": fast_mode(),
            "versions": {name: _version(name) for name in _VERSIONED}}


def _difference(saved, wanted, where: str = "") -> str | None:
    """The first setting in which ``saved`` differs from ``wanted``, said in words."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        for key, value in wanted.items():
            if where == "dataset" and key == "source":   # the same data, fetched otherwise
                continue
            found = _difference(saved.get(key), value, f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    if saved == wanted:
        return None
    if where == "dataset.sha256":
        return "other images or labels of the same size (their digest differs)"
    return f"{where} {saved!r}, not {wanted!r}"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _saved(path: Path, wanted: dict):
    """(model, record) saved at ``path`` for this request, or (None, why not)."""
    if not path.is_file():
        return None, None
    try:
        record = json.loads(_sidecar(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, f"it has no readable record {_sidecar(path).name}"
    if not isinstance(record, dict):
        return None, f"its record {_sidecar(path).name} is not a JSON object"
    changed = _difference(record, wanted)
    if changed:
        return None, f"it was trained with {changed}"
    if record.get("model_sha256") != file_sha256(path):
        return None, "the file is not the one its record describes (changed or half-written)"
    try:
        return (load_model(path), record), None
    except ArtspeedError as exc:
        return None, f"it could not be loaded ({exc})"


def trained_baseline(dataset=None, *, width: int = 32, dropout: float = 0.25,
                     epochs: int | None = None, learning_rate: float = 1e-3, seed: int = 0,
                     validate: bool = True, batch_size: int = 64, path=None,
                     progress: bool = True, retrain: bool = False,
                     quiet: bool = False) -> TrainedBaseline:
    """``baseline_cnn`` trained on ``dataset`` with ``train``, or reused from ``path``.

    ``dataset`` is a Dataset, a name or a ``DatasetChoice`` (None: the default
    dataset, with 2,000 training images in fast mode); ``epochs`` to ``baseline_epochs()``.
    With ``path`` (a ``.keras`` file, e.g. ``artspeed.baseline_path(ds.name)``) the
    model is loaded from there when its record matches this request, else trained
    and saved there (model and record each written whole). ``retrain=True`` always
    trains. One line says which happened, and why a saved one was not reused
    (``quiet=True``: no line, for output that must stay machine-readable).
    """
    path = _checked_path(path)
    dataset = as_dataset(dataset)
    if dataset.task != "classification":
        raise InvalidArgumentError(
            f"the baseline CNN is a classifier, and {dataset.name} holds {dataset.task} labels; "
            + ("train the UNet instead (artspeed.trained_unet, or artspeed tour --dataset "
               f"{dataset.name})" if dataset.task == "segmentation" else
               "bring a model of your own with one output per target"))
    epochs = baseline_epochs() if epochs is None else _checks.whole_number("epochs", epochs)
    model = baseline_cnn(dataset.input_shape, dataset.num_classes, width=width,
                         dropout=dropout, seed=seed)   # checks width, dropout and seed
    wanted = _request("baseline_cnn", dataset, width=int(width), dropout=float(dropout),
                      epochs=epochs, learning_rate=_checks.positive_finite("learning_rate",
                                                                           learning_rate),
                      seed=int(seed), validate=bool(validate),
                      batch_size=_checks.whole_number("batch_size", batch_size))
    return _trained(model, dataset, wanted, path, "the baseline", progress, retrain, quiet)


def trained_vehicle(dataset="scenes", *, alpha: float = 1.4, epochs: int | None = None,
                    learning_rate: float = 2e-3, seed: int = 0, validate: bool = True,
                    batch_size: int = 64, path=None, progress: bool = True,
                    retrain: bool = False, quiet: bool = False) -> TrainedBaseline:
    """The speed lessons' ``vehicle`` trained on ``dataset`` (the built-in ``scenes``), or reused.

    As ``trained_baseline``, with the vehicle's width multiplier ``alpha`` and
    ``epochs`` defaulting to ``vehicle_epochs()``; ``path`` is e.g.
    ``artspeed.baseline_path("scenes")``. On 2 cores an epoch of the 5,000
    scenes takes about a minute.
    """
    path = _checked_path(path)
    dataset = as_dataset(dataset)
    epochs = vehicle_epochs() if epochs is None else _checks.whole_number("epochs", epochs)
    model = vehicle(dataset.input_shape, dataset.num_classes, alpha=alpha, seed=seed)
    wanted = _request("vehicle", dataset, alpha=float(alpha), fused_stages=VEHICLE_FUSED_STAGES,
                      epochs=epochs,
                      learning_rate=_checks.positive_finite("learning_rate", learning_rate),
                      seed=int(seed), validate=bool(validate),
                      batch_size=_checks.whole_number("batch_size", batch_size))
    return _trained(model, dataset, wanted, path, "the vehicle", progress, retrain, quiet)


def unet_epochs() -> int:
    """The UNet's epochs when none are asked for: 6, or 1 in fast mode."""
    return 1 if fast_mode() else 6


def trained_unet(dataset="shapes_seg", *, filters: int = 16, depth: int = 3,
                 epochs: int | None = None, learning_rate: float = 2e-3, seed: int = 0,
                 validate: bool = True, batch_size: int = 32, path=None,
                 progress: bool = True, retrain: bool = False,
                 quiet: bool = False) -> TrainedBaseline:
    """The segmentation lessons' ``unet`` trained on ``dataset`` (the built-in ``shapes_seg``
    masks), or reused.

    As ``trained_vehicle``, with the UNet's ``filters`` and ``depth``; ``epochs``
    defaults to ``unet_epochs()``, and ``path`` is e.g. ``artspeed.baseline_path("shapes_seg")``.
    """
    path = _checked_path(path)
    dataset = as_dataset(dataset)
    epochs = unet_epochs() if epochs is None else _checks.whole_number("epochs", epochs)
    model = unet(dataset.input_shape, dataset.num_classes, filters=filters, depth=depth,
                 seed=seed)
    wanted = _request("unet", dataset, filters=int(filters), depth=int(depth), epochs=epochs,
                      learning_rate=_checks.positive_finite("learning_rate", learning_rate),
                      seed=int(seed), validate=bool(validate),
                      batch_size=_checks.whole_number("batch_size", batch_size))
    return _trained(model, dataset, wanted, path, "the UNet", progress, retrain, quiet)


def trained_model(dataset, **kwargs) -> TrainedBaseline:
    """The workbook's model for ``dataset``'s task, trained or reused: the ``vehicle`` for a
    classification dataset of 96x96 colour images (``scenes``), ``baseline_cnn`` for other
    classification datasets, the ``unet`` for segmentation masks. A regression dataset has
    no built-in model: bring your own.
    """
    dataset = as_dataset(dataset)
    if dataset.task == "segmentation":
        return trained_unet(dataset, **kwargs)
    if dataset.task == "regression":
        raise ArtspeedError(f"{dataset.name} is a regression dataset, and artspeed has no "
                            "built-in regression model; give your own model (a Keras model "
                            "with one output per target)")
    return trained_vehicle(dataset, **kwargs)


def _checked_path(path):
    if path is not None:
        path = keras_target(path)
        check_writable_dir(path.parent)       # before loading data or training
    return path


def _trained(model, dataset, wanted: dict, path, what: str, progress: bool, retrain: bool,
             quiet: bool) -> TrainedBaseline:
    """``model`` trained as ``wanted`` says, or the one saved at ``path`` for that request."""
    why = None
    if path is not None and not retrain:
        found, why = _saved(path, wanted)
        if found:
            model, record = found
            if not quiet:
                print(f"reused {what} {path} ({_describe(record)})")
            return TrainedBaseline(model, dataset, TrainingHistory.from_dict(
                record["history"]), record, path, reused=True)
    start = time.perf_counter()
    history = train(model, dataset, epochs=wanted["epochs"], batch_size=wanted["batch_size"],
                    learning_rate=wanted["learning_rate"], seed=wanted["seed"],
                    validate=wanted["validate"], progress=progress)
    record = {**wanted, "params": model.count_params(), "history": history.to_dict(),
              "train_seconds": round(time.perf_counter() - start, 2),
              "trained_at": datetime.datetime.now().isoformat(timespec="seconds")}
    line = f"trained {what} ({_describe(record)}) in {record['train_seconds']:.0f} s"
    if path is not None:
        with signals_deferred():   # Ctrl-C waits for the model and its record
            save_model(model, path)
            record["model_sha256"] = file_sha256(path)
            write_text_atomic(_sidecar(path), json.dumps(record, indent=2) + "\n")
        line += f"; saved to {path}" + (f" (the one there was not reused: {why})" if why else "")
    if not quiet:
        print(line)
    return TrainedBaseline(model, dataset, history, record, path)
