"""Output folders that runs can trust: writable before any work starts, and held by one process at a time."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from art_sor.trainers.distributed import DataParallel

LOCK_FILE = ".art-sor.lock"


class FolderError(ValueError):
    """An output folder that cannot be written, or that another process is writing.

    :ivar setting: The argument that gave the folder (``out``).
    """

    def __init__(self, message: str, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


def check_writable(folder: str | os.PathLike[str], setting: str = "out") -> Path:
    """Create ``folder`` if needed and prove that a file can be written there.

    :param setting: The argument that gave the folder, for the error.
    :raises FolderError: If the folder cannot be created or written.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise FolderError(f"cannot write to {folder} ({error.strerror or error}); choose another folder",
                          setting) from error
    return folder


@contextmanager
def exclusive(folder: str | os.PathLike[str], setting: str = "out") -> Iterator[Path]:
    """Hold ``folder`` for this process; a second process that asks for it is refused at once.

    In a data-parallel job only rank 0 writes, so only rank 0 takes the lock; the others get the folder to read.

    :raises FolderError: If another process holds it.
    """
    if not DataParallel.current().leader:
        yield Path(folder)
        return
    folder = check_writable(folder, setting)
    lock = FileLock(folder / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout as error:
        raise FolderError(f"another art-sor process is writing to {folder}; wait for it to finish, or choose "
                          "another folder", setting) from error
    try:
        yield folder
    finally:
        lock.release()


def clear(folder: str | os.PathLike[str]) -> None:
    """Remove what a run wrote in ``folder`` (every entry but the lock), for ``overwrite``.

    In a data-parallel job rank 0 removes and every rank waits for it, so that none reads a half-removed folder.
    """
    parallel = DataParallel.current()
    folder = Path(folder)
    if parallel.leader and folder.exists():
        for entry in folder.iterdir():
            if entry.name == LOCK_FILE:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    parallel.barrier()
