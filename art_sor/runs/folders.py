"""Output folders that runs can trust: writable before any work starts, held by one process, claimed by one job."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from art_sor.runs.run_key import RunMismatchError, plain
from art_sor.specs import Spec
from art_sor.storage import read_checked_json, write_checked_json
from art_sor.trainers.distributed import DataParallel
from art_sor.trainers.state import differing_settings

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


JOB_FILE = "job.json"
"""The key of what an ``evaluate`` or ``explain`` folder holds, beside its results."""


def claim_folder(folder: Path, job: dict[str, Any], overwrite: bool = False,
                 own_folders: Collection[str] | None = None) -> None:
    """Record ``job`` as what ``folder`` holds, or refuse a folder that holds another job's results.

    A folder holds one job: another command, or the same command for other defences, would replace its report.
    A folder without a job file (new, or written before job files existed and holding nothing else) is claimed.
    Every process of a data-parallel job decides before rank 0 writes, so that all decide alike.

    :param overwrite: Clear a folder of another job (every process must pass the same) instead of refusing it.
    :param own_folders: Subfolders the job writes (its defences' folders): a folder without a job file that holds
                        only these, and files, was written by this kind of job before job files existed.
    :raises RunMismatchError: Naming the differing settings, when the folder holds results of another job.
    """
    path = folder / JOB_FILE
    job = plain(job)
    problem = None
    if path.exists():
        stored = read_checked_json(path)
        if stored.get("command") != job.get("command"):
            # Another command's settings share no key with this one's: name the command, not every setting.
            defences = f" (defences {', '.join(stored['defences'])})" if stored.get("defences") else ""
            problem = (f"{folder} holds the results of the command {stored.get('command')}{defences}, not of "
                       f"{job.get('command')}")
        else:
            differing = differing_settings(stored, job)
            if differing:
                problem = f"{folder} holds the results of another job: {'; '.join(differing)}"
    elif folder.exists():
        entries = [entry for entry in folder.iterdir() if not entry.name.startswith(".")]
        # With own_folders, files are this kind of job's reports from before job files; other folders are not.
        others = [entry.name for entry in entries
                  if own_folders is None or (entry.is_dir() and entry.name not in own_folders)]
        if others:
            problem = f"{folder} holds results ({', '.join(sorted(others)[:3])}) of a job it does not name"
    parallel = DataParallel.current()
    parallel.barrier()  # every process has read the folder before rank 0 changes it
    if problem is not None:
        if not overwrite:
            raise RunMismatchError(f"{problem}. Overwrite them, or choose another folder")
        clear(folder)
    if parallel.leader and (problem is not None or not path.exists()):
        write_checked_json(path, job)


def default_folder(kind: str, model_folder: str) -> Path:
    """``art-sor-runs/<kind>-<model_folder>``: one folder per command and model.

    :param model_folder: The model's part of the name (for a file,
                         :func:`~art_sor.classifiers.opening.checkpoint_folder`).
    """
    return Path("art-sor-runs") / f"{kind}-{model_folder}"


def claim_for_defences(out: Path, command: str, specs: Sequence[Spec], overwrite: bool,
                       folders: Sequence[str] = ()) -> None:
    """Claim ``out`` for ``command`` over the checked ``specs`` before any work (see :func:`claim_folder`).

    :param folders: Subfolders the job writes besides its defences' own.
    """
    with exclusive(out) as folder:
        claim_folder(folder, {"command": command, "defences": [spec.label for spec in specs]}, overwrite,
                     own_folders={*folders, *(spec.folder for spec in specs)})
