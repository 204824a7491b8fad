"""Knowledge distillation: a small student learns from a big teacher's soft outputs.

Taught in notebooks/07-clustering-and-distillation. The teacher's logits,
softened by a temperature T (``softmax(z / T)``), say more than the label: a
"7" that looks a bit like a "1". The ``Distiller`` trains the student on

    loss = alpha * CE(label, student) + (1 - alpha) * T^2 * KL(teacher_T || student_T)

(Hinton et al., 2015; the T^2 keeps the soft term's gradients at the scale of
the hard one). The teacher is frozen. A student built by
``artspeed.baseline_cnn(width=8)`` is a quarter as wide as the baseline; the
point is to compare it with the *same* student trained alone on the same
budget (``distill`` does both when asked). Likewise
``artspeed.vehicle(alpha=0.35)`` is a quarter as wide as the vehicle (alpha
1.4), with about an eighth of its MACs: a MobileNetV2 teacher distills into a
narrower MobileNetV2.

Models give their logits through a layer named ``logits`` (the last Dense
of ``baseline_cnn`` and of ``vehicle``), or through the input of a final
Softmax layer.

>>> import artspeed
>>> logits_model(artspeed.baseline_cnn(width=2)).output_shape
(None, 10)
>>> d = artspeed.Distiller(artspeed.baseline_cnn(width=4), artspeed.baseline_cnn(width=2))
>>> d.temperature, d.alpha, isinstance(d, artspeed.Distiller)
(4.0, 0.1, True)
>>> artspeed.Distiller(artspeed.baseline_cnn(width=4), artspeed.baseline_cnn(width=2), alpha=2)
Traceback (most recent call last):
...
artspeed.InvalidArgumentError: alpha must be a fraction in [0, 1], got 2; the weight of the label loss
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from artspeed.compress.results import CompressionResult
from artspeed.core import _checks
from artspeed.core.errors import InvalidArgumentError, ModelError
from artspeed.core.frameworks import check_tf_keras_model, tf, tf_keras
from artspeed.core.training import TrainingHistory, _progress_callback, check_model_fits, train
from artspeed.measure.evaluation import accuracy, model_size

__all__ = ["Distiller", "DistillationResult", "logits_model", "distill"]  # noqa: F822


def logits_model(model):
    """A model that shares ``model``'s layers and outputs its logits (before softmax).

    >>> import artspeed
    >>> logits_model(artspeed.dense_example())
    Traceback (most recent call last):
    ...
    artspeed.ModelError: dense_example has no layer named 'logits' and does not end with a Softmax layer, so its logits cannot be read; name the last Dense layer 'logits' (as artspeed.baseline_cnn does)
    """
    check_tf_keras_model(model, "artspeed.logits_model")
    names = [layer.name for layer in model.layers]
    if "logits" in names:
        tensor = model.get_layer("logits").output
    elif model.layers and type(model.layers[-1]).__name__ == "Softmax":
        tensor = model.layers[-1].input
    else:
        raise ModelError(f"{model.name} has no layer named 'logits' and does not end with a "
                         "Softmax layer, so its logits cannot be read; name the last Dense "
                         "layer 'logits' (as artspeed.baseline_cnn does)")
    return tf_keras.Model(model.inputs, tensor, name=f"{model.name}_logits")


@functools.cache
def _distiller_class():
    class Distiller(tf_keras.Model):
        """A tf_keras ``Model`` whose ``train_step`` distills ``teacher`` into ``student``.

        ``temperature`` (> 0) softens both distributions; ``alpha`` in [0, 1]
        weighs the hard (label) loss against the soft (teacher) one. Compile it
        with an optimizer only, then ``fit``: only the student's weights
        train. Calling it runs the student. Taught in
        notebooks/07-clustering-and-distillation.
        """

        def __init__(self, teacher, student, temperature: float = 4.0, alpha: float = 0.1,
                     **kwargs):
            _check_arguments(teacher, student, temperature, alpha)
            super().__init__(name="distiller", **kwargs)
            self.teacher = teacher
            self.student = student
            self.teacher_logits = logits_model(teacher)
            self.student_logits = logits_model(student)
            self.temperature = float(temperature)
            self.alpha = float(alpha)
            self.hard_loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            self.soft_loss = tf_keras.losses.KLDivergence()
            self.loss_tracker = tf_keras.metrics.Mean(name="loss")
            self.accuracy_tracker = tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")

        @property
        def metrics(self):
            return [self.loss_tracker, self.accuracy_tracker]

        def call(self, x, training=False):
            return self.student(x, training=training)

        def train_step(self, data):
            x, y = data
            teacher = self.teacher_logits(x, training=False)
            t = self.temperature
            with tf.GradientTape() as tape:
                student = self.student_logits(x, training=True)
                hard = self.hard_loss(y, student)
                soft = self.soft_loss(tf.nn.softmax(teacher / t), tf.nn.softmax(student / t))
                loss = self.alpha * hard + (1 - self.alpha) * t * t * soft
            weights = self.student.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
            self.loss_tracker.update_state(loss)
            self.accuracy_tracker.update_state(y, student)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            x, y = data
            student = self.student_logits(x, training=False)
            self.loss_tracker.update_state(self.hard_loss(y, student))
            self.accuracy_tracker.update_state(y, student)
            return {m.name: m.result() for m in self.metrics}

    return Distiller


def _check_arguments(teacher, student, temperature, alpha) -> None:
    check_tf_keras_model(teacher, "artspeed.Distiller (teacher)")
    check_tf_keras_model(student, "artspeed.Distiller (student)")
    _checks.positive_finite("temperature", temperature)
    _checks.fraction("alpha", alpha, "the weight of the label loss", closed=True)
    if tuple(teacher.input_shape) != tuple(student.input_shape) \
            or teacher.output_shape != student.output_shape:
        raise InvalidArgumentError(
            f"teacher and student must take the same inputs and give the same outputs; got "
            f"{teacher.input_shape} -> {teacher.output_shape} and {student.input_shape} -> "
            f"{student.output_shape}")


def __getattr__(name: str):
    # ``Distiller`` subclasses tf_keras.Model, so it is defined on first use:
    # importing this module does not import TensorFlow.
    if name == "Distiller":
        return _distiller_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class DistillationResult(CompressionResult):
    """A distillation run: the student's accuracy and size, the teacher's, and the student alone's.

    The teacher is the baseline: ``accuracy`` is the student's,
    ``baseline_accuracy`` the teacher's, ``times_smaller`` the teacher's
    gzipped ``.keras`` file over the student's.
    """

    student: object                  # the distilled tf_keras model
    student_accuracy: float
    teacher_accuracy: float
    student_params: int
    teacher_params: int
    temperature: float
    alpha: float
    epochs: int
    history: object = None           # TrainingHistory
    alone_accuracy: float | None = None   # the same student trained alone, same budget
    size_bytes: int | None = None            # the student's .keras file, raw and gzipped
    gzip_bytes: int | None = None
    baseline_size_bytes: int | None = None   # the teacher's
    baseline_gzip_bytes: int | None = None

    _model_field = "student"

    @property
    def model(self):
        """The distilled student (``student``)."""
        return self.student

    @property
    def accuracy(self) -> float:
        """The student's accuracy (``student_accuracy``)."""
        return self.student_accuracy

    @property
    def baseline_accuracy(self) -> float:
        """The teacher's accuracy (``teacher_accuracy``)."""
        return self.teacher_accuracy

    @property
    def gain_points(self) -> float | None:
        """Points of accuracy the teacher added over training the student alone."""
        if self.alone_accuracy is None:
            return None
        return 100 * (self.student_accuracy - self.alone_accuracy)

    def __repr__(self) -> str:
        alone = "" if self.alone_accuracy is None else f", alone {self.alone_accuracy:.2%}"
        return (f"<DistillationResult student {self.student_accuracy:.2%} "
                f"({self.student_params:,} params){alone}; teacher "
                f"{self.teacher_accuracy:.2%} ({self.teacher_params:,} params)>")


def distill(teacher, student, dataset, *, epochs: int = 3, temperature: float = 4.0,
            alpha: float = 0.1, learning_rate: float = 1e-3, batch_size: int = 64,
            seed: int = 0, compare: bool = False, progress: bool = True) -> DistillationResult:
    """Distill ``teacher`` into ``student`` (untrained) on ``dataset``; compare if asked.

    With ``compare=True`` a fresh copy of the student (same architecture and
    initial weights) is trained alone with ``artspeed.train`` on the same
    epochs, batch size, learning rate and seed. Taught in
    notebooks/07-clustering-and-distillation.
    """
    if getattr(dataset, "task", "classification") != "classification":
        raise InvalidArgumentError(
            f"artspeed.distill: distillation matches a teacher's class probabilities, so it "
            f"takes classifiers; {dataset.name} is a {dataset.task} dataset. Compress that "
            "model by pruning or quantization instead")
    check_model_fits(teacher, dataset, "artspeed.distill (teacher)")
    check_model_fits(student, dataset, "artspeed.distill (student)")
    epochs = _checks.whole_number("epochs", epochs)
    batch_size = _checks.whole_number("batch_size", batch_size)
    alone = None
    if compare:
        alone = tf_keras.models.clone_model(student)
        alone.set_weights(student.get_weights())
    distiller = _distiller_class()(teacher, student, temperature, alpha)
    tf_keras.utils.set_random_seed(_checks.seed(seed))
    distiller.compile(optimizer=tf_keras.optimizers.Adam(learning_rate))
    timings: list = []
    steps = -(-len(dataset.x_train) // batch_size) * epochs
    fit = distiller.fit(dataset.train_data(batch_size, seed=seed), epochs=epochs, verbose=0,
                        callbacks=[_progress_callback(steps if progress else 0, timings)])
    history = TrainingHistory(epochs, {k: [float(v) for v in vs] for k, vs in fit.history.items()},
                              tuple(timings), len(dataset.x_train), batch_size, seed)
    alone_accuracy = None
    if alone is not None:
        train(alone, dataset, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
              seed=seed, validate=False, progress=progress)
        alone_accuracy = accuracy(alone, dataset)
    small, big = model_size(student), model_size(teacher)
    return DistillationResult(student, accuracy(student, dataset), accuracy(teacher, dataset),
                              student.count_params(), teacher.count_params(),
                              float(temperature), float(alpha), epochs, history, alone_accuracy,
                              small.size_bytes, small.gzip_bytes, big.size_bytes, big.gzip_bytes)
