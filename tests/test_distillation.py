"""Knowledge distillation: the Distiller's train_step, the logits, and the comparison."""

import numpy as np
import pytest

import artspeed
from artspeed import InvalidArgumentError, KerasVersionError, ModelError
from artspeed.compress.distillation import distill, logits_model


@pytest.fixture(scope="module")
def teacher(trained):
    """The shared trained baseline (distillation freezes it)."""
    return trained


def test_logits_are_the_input_of_the_softmax(teacher, shapes_small):
    x = shapes_small.x_test[:4]
    logits = logits_model(teacher)(x).numpy()
    probabilities = teacher(x).numpy()
    softmax = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(softmax, probabilities, atol=1e-5)


def test_distill_trains_only_the_student_and_compares(teacher, shapes_small):
    before = [w.copy() for w in teacher.get_weights()]
    student = artspeed.baseline_cnn(width=2, seed=1)
    run = distill(teacher, student, shapes_small, epochs=2, learning_rate=3e-3, compare=True,
                  progress=False)
    for old, new in zip(before, teacher.get_weights()):
        np.testing.assert_array_equal(old, new)       # the teacher is frozen
    assert run.student is student and run.student_params < run.teacher_params / 5
    assert run.student_accuracy == artspeed.accuracy(student, shapes_small)
    assert run.history.metrics["loss"][-1] < run.history.metrics["loss"][0]   # it learns
    assert run.alone_accuracy is not None and 0 <= run.alone_accuracy <= 1
    assert run.gain_points == pytest.approx(100 * (run.student_accuracy - run.alone_accuracy))
    assert run.history.epochs == 2 and "loss" in run.history.metrics
    assert run.to_dict()["student"] == student.name and "teacher" in repr(run)
    # the teacher is the baseline of the shared CompressionResult
    assert run.model is student and run.accuracy == run.student_accuracy
    assert run.baseline_accuracy == run.teacher_accuracy
    # the sizes are the student's: a .keras archive records when it was saved, so saving it
    # again can change the gzipped size by a few bytes, not the raw one
    again = artspeed.model_size(student)
    assert run.size_bytes == again.size_bytes and run.times_smaller > 1
    assert run.gzip_bytes == pytest.approx(again.gzip_bytes, rel=0.01)


def test_distiller_is_a_keras_model_with_a_train_step(teacher, shapes_small):
    import tf_keras

    student = artspeed.baseline_cnn(width=2, seed=1)
    distiller = artspeed.Distiller(teacher, student, temperature=2.0, alpha=0.5)
    assert isinstance(distiller, tf_keras.Model)
    distiller.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
    logs = distiller.fit(shapes_small.train_data(64), epochs=1, verbose=0).history
    assert set(logs) == {"loss", "accuracy"} and np.isfinite(logs["loss"][0])
    x = shapes_small.x_test[:3]
    np.testing.assert_allclose(distiller(x).numpy(), student(x).numpy())


@pytest.mark.parametrize("kwargs, match", [
    ({"temperature": 0}, "temperature must be a finite number above 0"),
    ({"temperature": -1.0}, "temperature must be a finite number above 0"),
    ({"alpha": 1.5}, r"alpha must be a fraction in \[0, 1\]"),
    ({"alpha": -0.1}, r"alpha must be a fraction in \[0, 1\]"),
])
def test_bad_temperature_and_alpha(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        artspeed.Distiller(artspeed.baseline_cnn(width=4), artspeed.baseline_cnn(width=2),
                           **kwargs)


def test_mismatched_models_and_missing_logits_are_refused(shapes_small):
    with pytest.raises(InvalidArgumentError, match="same inputs and give the same outputs"):
        artspeed.Distiller(artspeed.baseline_cnn(width=4),
                           artspeed.baseline_cnn(width=2, num_classes=5))
    with pytest.raises(ModelError, match="no layer named 'logits'"):
        logits_model(artspeed.dense_example())
    with pytest.raises(InvalidArgumentError, match="epochs must be"):
        distill(artspeed.baseline_cnn(width=2), artspeed.baseline_cnn(width=2), shapes_small,
                epochs=0)
    import keras  # Keras 3, installed as TensorFlow's own dependency

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(KerasVersionError, match="Keras 3 model"):
        logits_model(model)


def test_the_vehicle_distills_into_a_narrower_vehicle(scenes_small):
    teacher = artspeed.vehicle()                    # alpha 1.4: forward passes only
    student = artspeed.vehicle(alpha=0.35, seed=1, name="student")
    x = scenes_small.x_test[:4]
    logits = logits_model(teacher)(x).numpy()
    softmax = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(softmax / softmax.sum(-1, keepdims=True), teacher(x).numpy(),
                               atol=1e-5)
    before = [w.copy() for w in teacher.get_weights()]
    moving = student.get_layer("block_1_expand_BN").moving_mean.numpy().copy()
    run = distill(teacher, student, scenes_small, epochs=2, batch_size=32, progress=False)
    for old, new in zip(before, teacher.get_weights()):
        np.testing.assert_array_equal(old, new)    # frozen, BatchNorm statistics too
    # the student trained in training mode: its BatchNorm statistics moved
    assert not np.allclose(student.get_layer("block_1_expand_BN").moving_mean.numpy(), moving)
    assert run.student is student and run.student_params < run.teacher_params / 5
    assert run.history.metrics["loss"][-1] < run.history.metrics["loss"][0]
    assert run.student_accuracy == artspeed.accuracy(student, scenes_small)
    assert run.times_smaller > 5
