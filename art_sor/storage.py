"""Files that survive crashes and concurrent writers: atomic writes under unique names, checksummed tensors.

Every artefact art-sor writes goes through here. A write lands under a unique temporary name in the target
folder and is renamed over the target, so a reader sees the old file or the new one, never half of one, and two
processes writing at once cannot collide on a shared temporary name. Checked files carry a SHA-256 of every value
they hold; a file that no longer matches it (a flipped bit, a truncated copy, an edited setting) or that carries no
such checksum is refused rather than trained on or reported.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

try:
    import resource
except ImportError:  # not on Windows, which has no file-size limit
    resource = None

CHECKSUM_KEY = "checksum"
# Prefix of checksums over every value; art-sor before 0.3.0 wrote files without one, or with one over tensors only.
_FULL = "all:"
_REGENERATE = ("art-sor 0.3.0 does not reuse files written before it: delete the file and run what wrote it again "
               "(train, evaluate or compare), which writes it afresh")


class CorruptFileError(ValueError):
    """A file that cannot be read back as what art-sor wrote; the message names the file."""


class DiskFullError(OSError):
    """A write stopped by a storage limit: no space left, a quota, or the file-size limit.

    The file it would have replaced is untouched.
    """


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_PAGE = 64 * 1024
"""Slack for the last buffer a writer could not flush, when telling a limit from another failure."""


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[io.BufferedWriter], None]) -> Path:
    """Call ``write`` on a new file under a unique temporary name, then rename it to ``path`` atomically.

    :return: ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; the file gets the mode an ordinary open() would give it under the user's umask.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as error:
        written = Path(tmp).stat().st_size if Path(tmp).exists() else 0
        Path(tmp).unlink(missing_ok=True)
        limit = _storage_limit(error, written, path.parent)
        if limit is not None:
            cause, remedy, code = limit
            kept = f"the previous {path.name} is untouched" if path.exists() else f"no {path.name} was written"
            full = DiskFullError(f"{cause} while writing {path}; {kept} and the partial file was removed, so nothing "
                                 f"saved before was lost: {remedy} and run the same command again to carry on from "
                                 "the last saved state")
            full.errno = code
            raise full from error
        raise
    return path


def _storage_limit(error: BaseException, written: int, folder: Path) -> tuple[str, str, int] | None:
    """``(cause, remedy, errno)`` when ``error`` is a write stopped by a full device, a quota or the file-size limit.

    torch's writer reports such failures as a ``RuntimeError`` without the OS error, so the limits are read here.
    """
    code = error.errno if isinstance(error, OSError) else None
    if code is None and not isinstance(error, RuntimeError):
        return None
    unlimited = (-1, getattr(resource, "RLIM_INFINITY", -1))
    file_limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0] if resource is not None else -1
    if code == errno.EFBIG or (code is None and file_limit not in unlimited and written >= file_limit - _PAGE):
        size = f" of {file_limit} bytes" if file_limit not in unlimited else ""
        return (f"the file-size limit{size} (ulimit -f) was reached", "raise the limit (ulimit -f unlimited)",
                errno.EFBIG)
    if code in _NO_SPACE or (code is None and shutil.disk_usage(folder).free < _PAGE):
        return "no space left on the device", "free some space", code or errno.ENOSPC
    return None


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: str | os.PathLike[str], payload: Any) -> Path:
    """Write indented JSON atomically."""
    return write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read JSON written by :func:`write_json`.

    :raises CorruptFileError: If the file is not valid JSON.
    """
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorruptFileError(f"{path} is not valid JSON ({error}); delete it or write to another folder") from error


def state_checksum(state: Any) -> str:
    """SHA-256 over every value in a nested structure of dicts, lists and tuples, so that an edited setting fails too.

    Tensors count with their keys, shapes and dtypes, every other leaf exactly (numbers, strings, booleans,
    ``None``).
    """
    digest = hashlib.sha256()

    def visit(value: Any, key: str) -> None:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
        elif isinstance(value, dict):
            for k in sorted(value, key=str):
                if k != CHECKSUM_KEY:
                    visit(value[k], f"{key}/{k}")
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(item, f"{key}/{i}")
        else:
            text = float(value).hex() if isinstance(value, float) else repr(value)
            digest.update(f"{key}={type(value).__name__}:{text};".encode())

    visit(state, "")
    return digest.hexdigest()


def save_checked(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """``torch.save`` a dict with the checksum of all its values, atomically."""
    stamped = {**state, CHECKSUM_KEY: _FULL + state_checksum(state)}
    return atomic_write(path, lambda f: torch.save(stamped, f))


def load_checked(path: str | os.PathLike[str], what: str = "file", hint: str = "") -> dict[str, Any]:
    """Load a dict saved by :func:`save_checked` and verify its checksum.

    :param what: What the file should be, for messages (``"model checkpoint"``).
    :param hint: Appended to the message when the file is readable but not what art-sor wrote.
    :raises CorruptFileError: If the file is empty, not a torch file, not a dict, carries no checksum over all its
                              values (art-sor before 0.3.0 wrote one over its tensors only), or does not match it.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise CorruptFileError(f"{path} is empty, not an art-sor {what}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many unrelated types (KeyError, UnpicklingError...) for junk
        reason = str(error).splitlines()[0][:200]
        raise CorruptFileError(f"{path} cannot be read as an art-sor {what} ({type(error).__name__}: {reason})"
                               ) from error
    if not isinstance(state, dict) or CHECKSUM_KEY not in state:
        raise CorruptFileError(f"{path} is not an art-sor {what} (no checksum){hint}")
    stamp = str(state[CHECKSUM_KEY])
    if not stamp.startswith(_FULL):
        raise CorruptFileError(f"{path} is an art-sor {what} whose checksum covers its tensors only; {_REGENERATE}")
    if _FULL + state_checksum(state) != stamp:
        raise CorruptFileError(f"{path} is corrupted or was edited: its contents do not match the checksum it was "
                               "saved with; delete it and train again")
    return state


def write_checked_json(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write a JSON object with the checksum of its contents, for files that reruns and reports read back."""
    plain_payload = json.loads(json.dumps(payload, default=str))
    return write_json(path, {**plain_payload, CHECKSUM_KEY: _FULL + state_checksum(plain_payload)})


def read_checked_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a file of :func:`write_checked_json` and verify it.

    :raises CorruptFileError: If it is not valid JSON, carries no checksum, or its contents do not match it.
    """
    payload = read_json(path)
    if not isinstance(payload, dict):
        raise CorruptFileError(f"{path} is not an art-sor cache file; delete it or write to another folder")
    if CHECKSUM_KEY not in payload:
        raise CorruptFileError(f"{path} carries no checksum, so an edit could not be told from what art-sor "
                               f"measured; {_REGENERATE}")
    if _FULL + state_checksum(payload) != payload.pop(CHECKSUM_KEY):
        raise CorruptFileError(f"{path} was edited or is corrupted: its contents do not match their checksum; "
                               "delete it to measure again")
    return payload
