"""Runtimes: the Predictor base, Keras, LiteRT (TFLite) and OpenVINO predictors, IR files, and the one factory."""

from __future__ import annotations

from artspeed.core._exports import export
from artspeed.runtimes import base, factory, ir, openvino, tflite

__all__ = export(globals(), base, tflite, ir, openvino, factory)
