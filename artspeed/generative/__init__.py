"""Generative inference: a tiny character-level language model, its KV cache, and generation."""

from __future__ import annotations

from artspeed.core._exports import export
from artspeed.generative import (
    compression,
    costs,
    generation,
    lm,
    openvino_lm,
    text,
    workflows,
)

__all__ = export(globals(), text, lm, generation, openvino_lm, compression, costs, workflows)
