"""Shared fixtures. artspeed is imported first, so tf.keras is tf_keras everywhere."""

import os
import subprocess
import sys

import pytest

import artspeed  # noqa: F401  (selects Keras 2 before anything imports TensorFlow)
from artspeed.core.errors import InvalidArgumentError
from artspeed.tour import run as tour_module


@pytest.fixture(scope="session")
def shapes_small():
    """The built-in dataset, cut small: 1,000 train and 300 test images."""
    return artspeed.load_dataset("shapes", limit_train=1000, limit_test=300)


@pytest.fixture(scope="session")
def scenes_small():
    """The speed lessons' 96x96 colour scenes, cut very small: 96 train and 48 test images."""
    return artspeed.load_dataset("scenes", limit_train=96, limit_test=48)


@pytest.fixture(scope="session")
def trained_baseline(shapes_small, tmp_path_factory):
    """artspeed.trained_baseline's width-8 baseline on shapes_small, saved under pytest's tmp."""
    return artspeed.trained_baseline(shapes_small, width=8, dropout=0.0, epochs=4,
                                     learning_rate=3e-3, validate=False, progress=False,
                                     path=tmp_path_factory.mktemp("baseline") / "baseline.keras")


@pytest.fixture(scope="session")
def trained(trained_baseline):
    """The trained baseline's model (shared: tests must not train it further)."""
    return trained_baseline.model


# ------------------------------------------------------------ the tour
# Variant builders that fail, each its own way, registered beside tour_module.VARIANTS while
# a tour runs (monkeypatch): the tour skips a variant for its reason, or stops on Ctrl-C.
def _boom(ctx):
    raise RuntimeError("the converter crashed\nwith a long C++ trace")


def _garbage(ctx):
    path = ctx.path("garbage", ".tflite")
    path.write_bytes(b"not a flatbuffer")
    return path, "a file no runtime can load"


def _not_for_this_model(ctx):
    raise InvalidArgumentError("this model has no Conv2D layer to prune")


def _ctrl_c(ctx):
    raise KeyboardInterrupt


TOUR_EXTRAS = [("boom", _boom), ("garbage", _garbage), ("needs-conv", _not_for_this_model),
               ("ctrl-c", _ctrl_c)]
TOUR_VARIANTS = ["tflite-float32", "tflite-int8", "openvino-f32"]   # built and measured
TOUR_FAILING = ["boom", "garbage", "needs-conv"]   # fails to build, to load, does not apply


@pytest.fixture(scope="session")
def small_tour(tmp_path_factory):
    """(result, out, data): one fast tour of the vehicle on the built-in scenes, shared by
    the tests of the tour (tests/test_tour.py, tests/test_interruptions.py), each checking
    its own properties of the same run: two TFLite variants, an OpenVINO one and the Keras
    baseline measured, and the ``TOUR_FAILING`` variants skipped, each for its reason."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ARTSPEED_FAST", "1")
    mp.setattr(tour_module, "VARIANTS", [*tour_module.VARIANTS, *TOUR_EXTRAS])
    try:
        out = tmp_path_factory.mktemp("tour")
        data = artspeed.load_dataset("scenes", limit_train=128, limit_test=100)
        result = artspeed.run_tour(dataset=data, quick=True, out=out, progress=False,
                                   variants=[*TOUR_VARIANTS, *TOUR_FAILING])
    finally:
        mp.undo()
    return result, out, data


@pytest.fixture
def subclassed_model():
    """A built, subclassed tf_keras model ("sub"): tfmot cannot wrap it."""
    import numpy as np
    import tf_keras as keras

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    model = Subclassed()
    model(np.zeros((1, 3), np.float32))
    return model


@pytest.fixture
def no_sources(tmp_path, monkeypatch):
    """No data folder, and an empty Keras cache: only a download could help."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("ARTSPEED_DATA_DIR", raising=False)
    return home


def run_python(code: str, env_drop=(), timeout=300, **env_set):
    """Run ``code`` in a fresh interpreter; return the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    env.update(env_set)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as the CLI sets it for its users
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=timeout)


def run_cli(*args, env_drop=(), timeout=300, **env_set):
    """Run the ``artspeed`` command line in a fresh interpreter."""
    return run_python("import sys; from artspeed.cli import main; sys.exit(main(sys.argv[1:]))"
                      .replace("sys.argv[1:]", repr(list(args))), env_drop=env_drop,
                      timeout=timeout, **env_set)


_MANY = """
import json, os, sys, tempfile
from artspeed.cli import main

results = {}
for key, argv in json.loads(sys.argv[1]):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush(); sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os.dup2(saved[0], 1); os.dup2(saved[1], 2)
            os.close(saved[0]); os.close(saved[1])
        out.seek(0); err.seek(0)
        results[key] = [code, out.read().decode(errors="replace"),
                        err.read().decode(errors="replace")]
print(json.dumps(results))
"""


def run_cli_many(commands: dict, timeout=900) -> dict:
    """Run many ``artspeed`` commands one after another in one fresh interpreter.

    ``commands``: ``{key: argv}``. Each command's descriptors 1 and 2 go to files of its
    own, so each result, ``{key: (exit status, stdout, stderr)}``, holds all that
    command printed, native lines included, as a user's terminal would.
    A fresh interpreter per command costs seconds of imports each; this shares them.
    """
    import json

    result = subprocess.run([sys.executable, "-c", _MANY, json.dumps(list(commands.items()))],
                            capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL":
                                 os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")})
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    return {key: tuple(value) for key, value in json.loads(result.stdout.splitlines()[-1]).items()}


def tiny_lm(*, layers: int = 1, context: int = 32, width: int = 32, heads: int = 2,
            seed: int = 0):
    """An untrained character-level ``LanguageModel`` small enough for a unit test."""
    tokenizer = artspeed.CharTokenizer()
    return artspeed.LanguageModel(artspeed.decoder_lm(tokenizer.vocab_size, layers=layers,
                                                      context=context, width=width, heads=heads,
                                                      seed=seed), tokenizer)
