"""Checking that patient data is readable by the clinic's account only: files 0600, folders 0700."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def umask(value: int) -> Iterator[None]:
    """The process's umask set to ``value`` for the block (a umask that would leave files readable by others)."""
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def not_private(*roots: Path) -> list[str]:
    """Every file under ``roots`` that is not 0600 and every folder that is not 0700 (the roots themselves
    included when they exist), as ``"path: 0644, wants 0600"`` lines; empty when all is private."""
    found: list[str] = []
    for root in roots:
        if not root.exists():
            continue
        paths = [root, *sorted(root.rglob("*"))]
        for path in paths:
            if path.is_symlink():
                found.append(f"{path}: a symbolic link")
                continue
            wanted = 0o700 if path.is_dir() else 0o600
            if mode(path) != wanted:
                found.append(f"{path}: {mode(path):04o}, wants {wanted:04o}")
    return found


def files_under(*roots: Path) -> list[Path]:
    """Every file under ``roots`` (to say what a check covered)."""
    return sorted(p for root in roots if root.exists() for p in root.rglob("*") if p.is_file())
