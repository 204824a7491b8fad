"""Deploying to OpenVINO: NNCF INT8, validation against Keras, runtime graphs, and the deploy pipeline."""

from __future__ import annotations

from artspeed.core._exports import export
from artspeed.deployment import openvino_int8, pipeline, runtime_graphs, validation

__all__ = export(globals(), openvino_int8, pipeline, runtime_graphs, validation)
