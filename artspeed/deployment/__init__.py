"""Deploying: NNCF INT8 for OpenVINO, validation against Keras, runtime graphs, the deploy pipeline, and serving on Ray Serve."""

from __future__ import annotations

from artspeed.core._exports import export
from artspeed.deployment import openvino_int8, pipeline, runtime_graphs, serving, validation

__all__ = export(globals(), openvino_int8, pipeline, runtime_graphs, validation, serving)
