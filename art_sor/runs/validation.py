"""Checks of a whole job before its first epoch or attack.

Every defence and attack is built once on a throwaway classifier of the job's architecture, so that a bad option
value fails in seconds rather than after hours of training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

import torch
from art.estimators.classification import PyTorchClassifier

from art_sor.core.errors import SettingError
from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.evaluation.attacks import prepare_attack
from art_sor.registry import DEFENCES
from art_sor.runs.data_split import split_training_data
from art_sor.runs.run_classifier import build_run_classifier
from art_sor.runs.training_setup import TrainingSetup
from art_sor.specs import Spec
from art_sor.trainers.torch_step import StepSettings


class JobError(SettingError):
    """A setting of a job that cannot run, found before any training or attack.

    :ivar setting: The job's argument at fault (``defences``, ``attacks``, ``batch_size``, ``micro_batch_size``...).
    """


def check_distinct(specs: Sequence[Spec], setting: str) -> None:
    """Refuse the same spec twice (their results would share a folder and a row)."""
    labels = [spec.label for spec in specs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise JobError(f"{', '.join(repeated)} given more than once", setting)


def validate_job(data: Dataset, threat: ThreatModel, setup: TrainingSetup, defences: Sequence[Spec],
                 attacks: Sequence[str | Spec]) -> None:
    """Build every defence and attack on a throwaway classifier.

    :raises SettingError: Naming the setting at fault: a :class:`JobError` for a defence or attack (``defences``,
                          ``attacks``, or the setup's setting that the defence refuses), the setup's own
                          setting otherwise.
    """
    check_distinct(defences, "defences")
    split = split_training_data(data, setup)
    state = torch.random.get_rng_state()
    try:
        classifier = build_run_classifier(data, setup)
        for spec in defences:
            try:
                DEFENCES.check(spec)
            except (ValueError, TypeError) as error:
                raise JobError(f"{spec.label}: {error}", "defences") from error
            try:
                trainer = DEFENCES.build(spec, classifier, threat, step_settings=setup.step_settings)
                check_batches = getattr(trainer, "check_batches", None)  # a plugin's trainer may not have it
                if check_batches is not None:
                    check_batches(len(split.x_train), setup.batch_size)
            except (ValueError, TypeError) as error:
                raise JobError(f"{spec.label}: {error}", _setup_setting(error)) from error
            streamed_by = "augmentation" if setup.augmentation != "none" else "workers" if setup.workers else None
            if getattr(trainer, "needs_sample_indices", False) and streamed_by is not None:
                # The run would stream its batches through fit_generator, whose batches carry no sample indices.
                raise JobError(f"{spec.label} keeps one perturbation per training sample and trains on whole arrays; "
                               f"it cannot train on streamed ({streamed_by}) batches", streamed_by)
        validate_attacks(classifier, threat, attacks)
    finally:
        torch.random.set_rng_state(state)


def _setup_setting(error: Exception) -> str:
    """The setup's setting a defence refused (a step setting, or the batches it trains on), else ``defences``."""
    setting = getattr(error, "setting", None)
    steps = {field.name for field in fields(StepSettings)}
    return setting if setting in steps or setting in ("batch_size", "train_samples") else "defences"


def validate_attacks(classifier: PyTorchClassifier, threat: ThreatModel, attacks: Sequence[str | Spec]) -> None:
    """Build every attack for ``classifier``; raise :class:`JobError` naming ``attacks`` for one that fails.

    A radius that reaches the centre of the data box is refused first, naming ``eps``.
    """
    try:
        threat.check_box(classifier.clip_values, classifier.input_shape)
    except ValueError as error:
        raise JobError(str(error), "eps") from error
    check_distinct([Spec.of(a) for a in attacks], "attacks")
    for spec in attacks:
        try:
            prepare_attack(spec, classifier, threat)
        except (ValueError, TypeError, ImportError) as error:
            raise JobError(f"{Spec.of(spec).label}: {error}", "attacks") from error
