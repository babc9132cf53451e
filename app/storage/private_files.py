"""Files that hold patient data: readable by the clinic's account only, and never half-written.

Everything the app writes about patients (the database, photos, reports, exports, aftercare
cards, screenshots) is created 0600 in folders 0700. The modes are set with ``chmod`` after
creating, so the umask does not matter: a umask of 0 would otherwise leave files 0666.

A file is written under a temporary name in its own folder (0600 from the start), flushed to
disk and renamed over its name (:func:`write_private_text`, :func:`write_private_bytes`, and
:func:`open_private_text` for a writer that streams). A reader sees the old file or the whole
new one; a failure (a full disk, a file too big, an interrupt) leaves neither a half-written
file nor the temporary one, and the exception goes to the caller, who says what failed.

Folders: :func:`make_private_folder` creates a folder and its missing parents 0700. The app's
own folders (``reports/``, ``exports/``, a patient's photo folder) also lose any access by
others when they already exist, as earlier versions made them 0755; a folder the user chose
(``--out``'s, ``$STAMPSIDE_PHOTOS``) is created 0700 if missing and otherwise left as it is.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TextIO, TypeVar, cast

__all__ = [
    "FILE_MODE",
    "FOLDER_MODE",
    "create_private_file",
    "make_private_folder",
    "open_private_text",
    "restrict_to_owner",
    "write_private_bytes",
    "write_private_text",
]

#: Files: read and write for the clinic's account, nothing for anyone else.
FILE_MODE = 0o600
#: Folders: the same, plus listing and entering.
FOLDER_MODE = 0o700

_Handle = TypeVar("_Handle", bound=IO[Any])


def make_private_folder(folder: Path, *, own: bool = True) -> Path:
    """``folder`` with its missing parents, each created 0700 whatever the umask; returns ``folder``.

    ``own``: the folder is the app's (``reports/``, a patient's photos), so if it already exists
    it loses any access by others too (:func:`restrict_to_owner`). Pass ``own=False`` for a
    folder the user chose: it is created 0700 when missing and otherwise left as it is. Parents
    that exist are never changed.
    """
    folder = Path(folder)
    missing: list[Path] = []
    probe = folder.absolute()
    while not probe.is_dir() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            if not path.is_dir():
                raise
            continue  # made by another process meanwhile: it is theirs to set
        os.chmod(path, FOLDER_MODE)
    if own and not missing:
        restrict_to_owner(folder)
    return folder


def restrict_to_owner(path: Path) -> None:
    """Take group and other permissions off ``path`` if it exists and the account owns it.

    The owner's own bits stay as they are. A path owned by another account is left alone
    (``chmod`` would be refused).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o077:
        return
    geteuid = getattr(os, "geteuid", None)
    if geteuid is not None and info.st_uid != geteuid():
        return
    os.chmod(path, mode & ~0o077)


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty and 0600 unless it exists; ``True`` if it was created here.

    For a file another library fills in, such as the SQLite database (SQLite gives the
    ``-wal`` and ``-shm`` files it creates the database file's mode). The folder must exist.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.chmod(path, FILE_MODE)
    finally:
        os.close(fd)
    return True


@contextlib.contextmanager
def _replacing(path: Path, opener: Callable[[int], _Handle]) -> Iterator[_Handle]:
    """A file handle on a 0600 temporary file beside ``path``, renamed to ``path`` once written and synced.

    If the block or the writing fails, the temporary file is removed and ``path`` is untouched.
    A path that names a pipe or a device (``--out /dev/stdout``) is written to directly: there
    is no file to replace there.
    """
    if _is_special(path):
        handle = opener(os.open(path, os.O_WRONLY))
        with handle:
            yield handle
        return
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    temporary = Path(name)
    try:
        os.chmod(temporary, FILE_MODE)
        handle = opener(fd)
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _sync_folder(path.parent)


def _is_special(path: Path) -> bool:
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def open_private_text(path: Path, *, newline: str | None = None) -> contextlib.AbstractContextManager[TextIO]:
    """Stream UTF-8 text into ``path`` (0600): it appears, whole, only when the block ends without error.

    The folder must exist (:func:`make_private_folder`). ``OSError`` (a full disk, a missing
    folder, no permission) leaves nothing behind.
    """
    return cast(
        "contextlib.AbstractContextManager[TextIO]",
        _replacing(Path(path), lambda fd: os.fdopen(fd, "w", encoding="utf-8", newline=newline)),
    )


def write_private_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) into ``path``, 0600 and atomically; returns ``path``."""
    with open_private_text(path) as out:
        out.write(text)
    return Path(path)


def write_private_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` into ``path``, 0600 and atomically; returns ``path``."""
    path = Path(path)
    with _replacing(path, lambda fd: os.fdopen(fd, "wb")) as out:
        out.write(data)
    return path
