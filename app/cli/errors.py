"""Errors the CLI reports as one clear line, without a traceback."""

from __future__ import annotations

import click


class CliError(click.ClickException):
    """A problem the user can fix: printed as ``Error: …`` and exit code 2."""

    exit_code = 2
