"""The ground floor: Keras selection, errors, checks, files, results, data, models, training,
saving, and the trained baseline."""

from __future__ import annotations

from artspeed.core import (
    baseline,
    config,
    data,
    env,
    errors,
    frameworks,
    models,
    plots,
    saving,
    scenes,
    shapes,
    tasks,
    training,
)
from artspeed.core._exports import export

__all__ = export(globals(), frameworks, config, data, env, errors, models, plots, saving, shapes,
                 scenes, tasks, training, baseline)
