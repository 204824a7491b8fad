"""Counts are checked the same way in every layer: NumPy integers pass; bools, floats and 0 do not.

Each case is a public function and one of its whole-number arguments; all go
through ``artspeed.core._checks.whole_number``, so the answer (and the message,
which names the argument and the range) is the same everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest

import artspeed
from artspeed import FunctionPredictor, InvalidArgumentError

_NOOP = FunctionPredictor(None)

# (argument name, a value it accepts, the call with that argument set to v)
CASES = {
    "core.baseline_cnn": ("num_classes", 3, lambda v: artspeed.baseline_cnn(num_classes=v, width=2)),
    "runtimes.convert_model": ("batch_size", 2,
                               lambda v: artspeed.convert_model(artspeed.dense_example(),
                                                                batch_size=v)),
    "measure.profile": ("batch_size", 2,
                        lambda v: artspeed.profile(artspeed.baseline_cnn(width=2), batch_size=v)),
    "measure.predict_labels": ("batch_size", 2,
                               lambda v: artspeed.predict_labels(_NOOP, np.zeros((3, 1)), v)),
    "measure.multi_stream": ("samples_per_query", 2,
                             lambda v: artspeed.multi_stream(_NOOP, v, max_queries=2)),
    "measure.offline_throughput": ("batch_size", 2,
                                   lambda v: artspeed.offline_throughput(_NOOP, 4, v)),
    "measure.batch_sweep": ("batch_sizes", 2,
                            lambda v: artspeed.batch_sweep(_NOOP, (1, v), iterations=2)),
    "compress.calibrate": ("bits", 4, lambda v: artspeed.calibrate([0.5, 2.0], bits=v)),
    "compress.cluster_weights": ("number_of_clusters", 4,
                                 lambda v: artspeed.cluster_weights(artspeed.baseline_cnn(width=2),
                                                                    v)),
    "deployment.calibration_dataset": (
        "num_samples", 2,
        lambda v: artspeed.calibration_dataset(artspeed.convert_model(artspeed.dense_example()),
                                               np.zeros((4, 3), np.float32), v)),
}


@pytest.mark.filterwarnings("ignore::artspeed.NoisyMeasurementWarning")
@pytest.mark.parametrize("case", CASES)
def test_numpy_integer_is_a_whole_number(case):
    _, good, call = CASES[case]
    call(np.int64(good))
    call(np.int32(good))


@pytest.mark.parametrize("bad", [True, 2.0, 0], ids=["bool", "float", "zero"])
@pytest.mark.parametrize("case", CASES)
def test_bool_float_and_zero_are_refused(case, bad):
    name, _, call = CASES[case]
    with pytest.raises(InvalidArgumentError, match=rf"{name} must be a whole number (>=|from)"):
        call(bad)
