"""Train a model on a Dataset: seeded, with a progress bar, with its task's loss.

Taught in notebooks/00-setup-and-baseline.

>>> from artspeed import load_dataset, baseline_cnn
>>> ds = load_dataset("shapes", limit_train=256, limit_test=128)
>>> history = train(baseline_cnn(width=4), ds, epochs=1, progress=False)
>>> history.epochs, len(history.epoch_seconds)
(1, 1)
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
from tqdm.auto import tqdm

from artspeed.core import _checks
from artspeed.core._result import Result, html_table
from artspeed.core.data import Dataset
from artspeed.core.errors import InvalidArgumentError
from artspeed.core.frameworks import check_tf_keras_model, tf_keras
from artspeed.core.tasks import Task, task_for

__all__ = ["TrainingHistory", "train", "check_model_fits", "dataset_task"]


@dataclass(frozen=True)
class TrainingHistory(Result):
    """Per-epoch metrics and wall-clock seconds of one training run."""

    epochs: int
    metrics: dict = field(default_factory=dict)        # name -> one value per epoch
    epoch_seconds: tuple = ()
    train_samples: int = 0
    batch_size: int = 0
    seed: int = 0

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.metrics.items() if v}
        return f"<TrainingHistory {self.epochs} epochs, {self.median_epoch_s:.1f} s/epoch, {last}>"

    @property
    def median_epoch_s(self) -> float:
        return statistics.median(self.epoch_seconds) if self.epoch_seconds else float("nan")

    @classmethod
    def from_dict(cls, data: dict) -> TrainingHistory:
        data = dict(data)
        data["epoch_seconds"] = tuple(data.get("epoch_seconds", ()))
        return super().from_dict(data)

    def _repr_html_(self) -> str:
        names = list(self.metrics)
        rows = [[i + 1, *(self.metrics[n][i] for n in names), self.epoch_seconds[i]]
                for i in range(self.epochs)]
        return html_table(rows, header=["epoch", *names, "seconds"], caption="Training history")

    def plot(self, ax=None):
        """Loss and accuracy per epoch, train against validation."""
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        epochs = range(1, self.epochs + 1)
        for name, values in self.metrics.items():
            if "accuracy" in name:
                ax.plot(epochs, values, marker="o", label=name)
        ax.set(xlabel="epoch", ylabel="accuracy", title="Training")
        ax.grid(alpha=0.3)
        ax.legend()
        return ax


def check_model_fits(model, dataset: Dataset, where: str = "artspeed", task=None) -> Task:
    """``dataset``'s task, after a clear error unless ``model`` does it on ``dataset``'s
    images: a classifier of its classes, a segmentation model of its masks, a regression
    model of its targets. ``task`` (a name or ``Task``), when given, must be the dataset's."""
    check_tf_keras_model(model, where)
    task = dataset_task(dataset, task, where)
    expected = (None, *dataset.input_shape)
    got = tuple(model.input_shape) if not isinstance(model.input_shape, list) else None
    if got is None or len(got) != len(expected) or any(
            g is not None and g != e for g, e in zip(got[1:], expected[1:])):
        raise InvalidArgumentError(
            f"{where}: the model takes inputs of shape {model.input_shape}, but "
            f"{dataset.name} images are {dataset.input_shape}; build the model with "
            f"input_shape={dataset.input_shape}")
    outputs = model.output_shape if not isinstance(model.output_shape, list) else None
    if outputs is None or not task.fits(outputs, dataset):
        if task.name == "classification":
            units = outputs[-1] if outputs else None
            raise InvalidArgumentError(
                f"{where}: the model has {units} outputs, but {dataset.name} has "
                f"{dataset.num_classes} classes; build it with num_classes={dataset.num_classes}")
        raise InvalidArgumentError(
            f"{where}: the model's outputs have shape {model.output_shape}, but {task.name} of "
            f"{dataset.name} needs {task.expected_outputs(dataset)}; give it a model of that "
            "output shape")
    return task


def dataset_task(dataset: Dataset, task=None, where: str = "artspeed") -> Task:
    """``dataset``'s ``Task``; ``task``, when given, must be it (one line says so if not).

    >>> from artspeed import load_dataset
    >>> dataset_task(load_dataset("shapes", limit_train=2, limit_test=2), "segmentation")
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: artspeed: task segmentation needs a dataset of segmentation labels, but shapes holds classification labels; choose a segmentation dataset (shapes_seg, shapes_seg_multi) or --task classification
    """
    own = task_for(dataset.task)
    if task is None:
        return own
    given = task_for(task)
    if given.name != own.name:
        examples = {"classification": "shapes, scenes", "segmentation": "shapes_seg, shapes_seg_multi",
                    "regression": "scenes_size"}[given.name]
        raise InvalidArgumentError(
            f"{where}: task {given.name} needs a dataset of {given.name} labels, but "
            f"{dataset.name} holds {own.name} labels; choose a {given.name} dataset "
            f"({examples}) or --task {own.name}")
    return given


def _progress_callback(total_steps: int, timings: list):
    class Progress(tf_keras.callbacks.Callback):
        """A tqdm bar over all batches, plus per-epoch wall-clock times."""

        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=total_steps, desc="training", unit="batch",
                            disable=total_steps is None or total_steps <= 0, leave=True)

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()
            self.bar.set_description(f"epoch {epoch + 1}")

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(1)
            if logs and batch % 20 == 0:
                self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()}, refresh=False)

        def on_epoch_end(self, epoch, logs=None):
            timings.append(time.perf_counter() - self.t0)
            if logs:
                self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()})

        def on_train_end(self, logs=None):
            self.bar.close()

    return Progress()


def train(model, dataset: Dataset, epochs: int = 5, batch_size: int = 64,
          learning_rate: float = 1e-3, seed: int = 0, validate: bool = True,
          progress: bool = True, callbacks=()) -> TrainingHistory:
    """Fit ``model`` on ``dataset`` and return its history.

    An uncompiled model is compiled with Adam and its task's loss: sparse
    categorical cross-entropy for classes (per pixel for segmentation; binary
    cross-entropy for one sigmoid channel), mean squared error for regression; a
    compiled one keeps its own settings. ``seed`` fixes the
    weights' initialization and the shuffling. ``callbacks`` are passed on to
    ``model.fit`` (tfmot's ``UpdatePruningStep``, for example).
    """
    check_tf_keras_model(model, "artspeed.train")
    epochs = _checks.whole_number("epochs", epochs)
    batch_size = _checks.whole_number("batch_size", batch_size)
    learning_rate = _checks.positive_finite("learning_rate", learning_rate)
    seed = _checks.seed(seed)
    task = check_model_fits(model, dataset, "artspeed.train")
    tf_keras.utils.set_random_seed(seed)
    sigmoid = task.name == "segmentation" and model.output_shape[-1] == 1
    if model.optimizer is None:
        loss, metric = {"classification": ("sparse_categorical_crossentropy", "accuracy"),
                        "segmentation": ("sparse_categorical_crossentropy", "accuracy"),
                        "regression": ("mse", "mae")}[task.name]
        if sigmoid:   # one sigmoid channel: binary cross-entropy on masks (N, H, W, 1)
            loss, metric = "binary_crossentropy", "binary_accuracy"
        model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate), loss=loss,
                      metrics=[metric])
    timings: list = []
    steps = -(-len(dataset.x_train) // batch_size) * epochs
    train_data, test_data = dataset.train_data(batch_size, seed=seed), dataset.test_data()
    if sigmoid:
        def as_mask(x, y):
            return x, tf_keras.backend.cast(y[..., None], "float32")
        train_data, test_data = train_data.map(as_mask), test_data.map(as_mask)
    fit = model.fit(
        train_data, epochs=epochs, verbose=0,
        validation_data=test_data if validate else None,
        callbacks=[_progress_callback(steps if progress else 0, timings), *callbacks],
    )
    metrics = {k: [float(v) for v in values] for k, values in fit.history.items()}
    return TrainingHistory(epochs=epochs, metrics=metrics, epoch_seconds=tuple(timings),
                           train_samples=len(dataset.x_train), batch_size=batch_size, seed=seed)
