"""Compressing: quantization math and number formats, PTQ, QAT, pruning, sparse inference, channel pruning, clustering, distillation, variant tables."""

from __future__ import annotations

from artspeed.compress import (
    channels,
    clustering,
    distillation,
    formats,
    pruning,
    ptq,
    qat,
    quantization,
    results,
    sparse_inference,
    workflows,
)
from artspeed.core._exports import export

__all__ = export(globals(), channels, clustering, distillation, formats, pruning, ptq, qat, quantization,
                 results, sparse_inference, workflows)
