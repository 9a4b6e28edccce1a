"""The full key of a training run: what produced a model, so that nothing is reused for other settings.

A key holds the dataset (spec, source and a fingerprint of its arrays), the threat model, the defence (its spec
and the trainer's resolved configuration, defaults included), the training setup, the protocol of the run (a
compute budget that stops it, per-epoch robustness measurements) and the versions of art-sor, ART and torch.
Every model, training state and cached evaluation that a run writes carries it, and a rerun reuses an artefact
only when the keys are equal.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.runs.folders import clear
from art_sor.runs.training_setup import TrainingSetup
from art_sor.specs import Spec
from art_sor.storage import read_checked_json, write_checked_json
from art_sor.trainers.distributed import DataParallel
from art_sor.trainers.state import differing_settings


class RunMismatchError(ValueError):
    """A folder holds a run with other settings; the message names the differing keys and how to proceed.

    The advice is to overwrite the folder (``overwrite=True``) or to choose another one.

    :ivar setting: The argument that gave the folder (``out`` for a run's folder, ``log_dir`` for its logs).
    """

    def __init__(self, message: str, setting: str = "out") -> None:
        super().__init__(message)
        self.setting = setting


def versions() -> dict[str, str]:
    """Versions of art-sor, ART and torch."""
    import art
    import torch

    from art_sor import __version__

    return {"art-sor": __version__, "art": str(art.__version__), "torch": str(torch.__version__)}


def plain(value: Any) -> Any:
    """``value`` as JSON would give it back (tuples become lists), so that stored and fresh keys compare."""
    return json.loads(json.dumps(value, default=str))


@dataclass(frozen=True)
class RunKey:
    """What a trained model depends on, epochs apart (a run may be extended)."""

    dataset: dict[str, Any]
    threat: dict[str, Any]
    defence: dict[str, Any]
    setup: dict[str, Any]
    protocol: dict[str, Any]
    versions: dict[str, str]

    @classmethod
    def create(cls, data: Dataset, threat: ThreatModel, spec: Spec, config: dict[str, Any], setup: TrainingSetup,
               protocol: dict[str, Any] | None = None) -> RunKey:
        """The key of training ``spec`` (whose trainer has ``config``) on ``data`` with ``setup``.

        :param protocol: What else the run's records depend on (a budget, per-epoch measurements).
        """
        return cls(dataset=dataset_identity(data),
                   threat=plain(threat.to_dict()), defence=plain({"spec": spec.label, "config": config}),
                   setup=plain(setup.identity()), protocol=plain(protocol or {}), versions=versions())

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunKey:
        """Inverse of :meth:`to_dict`."""
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    def differences(self, stored: RunKey) -> list[str]:
        """The settings in which ``stored`` differs from this key, e.g. ``setup.optimizer.lr: 0.1 → 0.01``."""
        return differing_settings(stored.to_dict(), self.to_dict())


JOB_FILE = "job.json"
"""The key of what an ``evaluate`` or ``explain`` folder holds, beside its results."""


def dataset_identity(data: Dataset) -> dict[str, Any]:
    """The dataset part of a key: its spec, source and a fingerprint of its arrays."""
    return plain({"spec": data.name, "source": data.source, "fingerprint": data.fingerprint()})


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
