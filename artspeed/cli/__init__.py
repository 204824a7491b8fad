"""The ``artspeed`` command line: each command parses its arguments and calls one library function."""

from __future__ import annotations

from artspeed.cli.app import main

__all__ = ["main"]
