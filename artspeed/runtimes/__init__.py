"""Runtimes: the Predictor base, Keras, LiteRT (TFLite) and OpenVINO predictors, IR files, OpenVINO's model cache, and the one factory."""

from __future__ import annotations

from artspeed.core._exports import export
from artspeed.runtimes import base, compile_cache, factory, ir, openvino, tflite

__all__ = export(globals(), base, tflite, ir, openvino, compile_cache, factory)
