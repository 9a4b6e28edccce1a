"""The full key of a training run: what produced a model, so that nothing is reused for other settings.

A key holds the dataset (spec, source and a fingerprint of its arrays), the threat model, the defence (its spec
and the trainer's resolved configuration, defaults included), the training setup, the protocol of the run (a
compute budget that stops it, per-epoch robustness measurements) and the versions of art-sor, ART and torch.
Every model, training state and cached evaluation that a run writes carries it, and a rerun reuses an artefact
only when the keys are equal.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.runs.training_setup import OptimizerSettings, ScheduleSettings, TrainingSetup
from art_sor.specs import Spec
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

    @property
    def dataset_spec(self) -> str:
        """The dataset's spec, e.g. ``digits`` or ``npz:PATH``."""
        return self.dataset["spec"]

    def training_setup(self, epochs: int) -> TrainingSetup:
        """The training setup the key records, with ``epochs``, which the key leaves out.

        The device and the data-loader processes, which the key leaves out too, take their defaults.
        """
        settings = dict(self.setup)
        schedule = settings.pop("schedule")
        return TrainingSetup(epochs=epochs, optimizer=OptimizerSettings(**settings.pop("optimizer")),
                             schedule=ScheduleSettings(**{**schedule, "milestones": tuple(schedule["milestones"])}),
                             **settings)

    def differences(self, stored: RunKey) -> list[str]:
        """The settings in which ``stored`` differs from this key, e.g. ``setup.optimizer.lr: 0.1 → 0.01``."""
        return differing_settings(stored.to_dict(), self.to_dict())


def dataset_identity(data: Dataset) -> dict[str, Any]:
    """The dataset part of a key: its spec, source and a fingerprint of its arrays."""
    return plain({"spec": data.name, "source": data.source, "fingerprint": data.fingerprint()})
