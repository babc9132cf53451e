"""Errors the CLI reports as one clear line, without a traceback."""

from __future__ import annotations

from pathlib import Path

import click


class CliError(click.ClickException):
    """A problem the user can fix: printed as ``Error: …`` and exit code 2."""

    exit_code = 2


def write_failed(path: Path, exc: OSError) -> CliError:
    """A file that could not be written (a full disk, a missing folder): its writer left nothing behind."""
    return CliError(f"could not write {path}: {exc.strerror or exc}; no file was written")
