"""Errors the simulator reports to a person (the CLI prints them as one line, exit code 2)."""

from __future__ import annotations


class SimulatorError(Exception):
    """A problem the user can fix: a bad setting, a path that cannot be created, a port in use."""


class ScenarioError(SimulatorError):
    """A scenario file, or the flags on top of it, do not make a valid configuration."""


class TransportError(SimulatorError):
    """The pty or the TCP server could not be set up."""
