"""Placeholder: being written."""

from __future__ import annotations

import click


@click.group()
def link_group() -> None:
    """Not written yet."""
