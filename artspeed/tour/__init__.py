"""The capstone tour: build every variant, measure them alike, write the report."""

from __future__ import annotations

from artspeed.core._exports import export
from artspeed.tour import report, results, run, variants

__all__ = export(globals(), results, report, variants, run)
