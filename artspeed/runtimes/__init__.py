"""Runtimes: the Predictor base, Keras, LiteRT (TFLite), OpenVINO and served (HTTP) predictors, IR files, OpenVINO's model cache, and the one factory."""

from __future__ import annotations

from artspeed.core._exports import export
from artspeed.runtimes import base, compile_cache, factory, http, ir, openvino, tflite

__all__ = export(globals(), base, tflite, ir, openvino, http, compile_cache, factory)
