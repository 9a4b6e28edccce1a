"""Checks of a whole job before its first epoch or attack.

Every defence and attack is built once on a throwaway classifier of the job's architecture, so that a bad option
value fails in seconds rather than after hours of training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from art.estimators.classification import PyTorchClassifier

from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.evaluation.attacks import prepare_attack
from art_sor.registry import DEFENCES, RegistryError
from art_sor.runs.data_split import split_training_data
from art_sor.runs.run_classifier import build_run_classifier
from art_sor.runs.setup import TrainingSetup
from art_sor.specs import Spec


class JobError(ValueError):
    """A defence or attack of a job that cannot be built.

    :ivar option: The command-line option at fault (``--defence`` or ``--attack``).
    """

    def __init__(self, message: str, option: str) -> None:
        super().__init__(message)
        self.option = option


def check_distinct(specs: Sequence[Spec], option: str) -> None:
    """Refuse the same spec twice (their results would share a folder and a row)."""
    labels = [spec.label for spec in specs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise JobError(f"{', '.join(repeated)} given more than once", option)


def validate_job(data: Dataset, threat: ThreatModel, setup: TrainingSetup, defences: Sequence[Spec],
                 attacks: Sequence[str | Spec]) -> None:
    """Build every defence and attack on a throwaway classifier; raise :class:`JobError` naming the option."""
    check_distinct(defences, "--defence")
    try:
        split = split_training_data(data, setup)
    except ValueError as error:
        message = str(error)
        option = ("--validation-samples" if message.startswith("validation_samples") else
                  "--train-samples" if message.startswith("train_samples") else "--dataset")
        raise JobError(str(error), option) from error
    state = torch.random.get_rng_state()
    try:
        try:
            classifier = build_run_classifier(data, setup)
        except ValueError as error:
            if str(error).startswith("sync_batch_norm"):
                raise JobError(str(error), "--sync-batch-norm") from error
            raise
        try:
            threat.check_box(classifier.clip_values, classifier.input_shape)
        except ValueError as error:
            raise JobError(str(error), "--eps") from error
        settings = setup.trainer_settings()
        options = " / ".join("--" + key.replace("_", "-") for key in settings)
        for spec in defences:
            try:
                DEFENCES.check(spec)
            except (ValueError, TypeError) as error:
                raise JobError(f"{spec.label}: {error}", "--defence") from error
            try:
                DEFENCES.check_settings(spec, settings)
            except RegistryError as error:
                raise JobError(f"{spec.label}: {error}", options) from error
            try:
                trainer = DEFENCES.build(spec, classifier, threat, **settings)
            except (ValueError, TypeError) as error:
                raise JobError(f"{spec.label}: {error}", _setting_option(str(error), spec, settings)) from error
            check_batches = getattr(trainer, "check_batches", None)  # a plugin's trainer may not have it
            try:
                if check_batches is not None:
                    check_batches(len(split.x_train), setup.batch_size)
            except ValueError as error:
                message = str(error)
                option = ("--batch-size" if message.startswith("batch_size") else
                          "--train-samples" if "training sample(s) for" in message else
                          _setting_option(message, spec, settings))
                raise JobError(f"{spec.label}: {error}", option) from error
        validate_attacks(classifier, threat, attacks)
    finally:
        torch.random.set_rng_state(state)


def _setting_option(message: str, spec: Spec, settings: dict[str, Any]) -> str:
    """The option of a trainer setting that ``message`` blames, when the job's options gave it, else ``--defence``."""
    given = dict(spec.options)
    for key in settings:
        if message.startswith(key) and key not in given:
            return "--" + key.replace("_", "-")
    return "--defence"


def validate_attacks(classifier: PyTorchClassifier, threat: ThreatModel, attacks: Sequence[str | Spec]) -> None:
    """Build every attack for ``classifier``; raise :class:`JobError` naming ``--attack`` for one that fails.

    A radius that reaches the centre of the data box is refused first, naming ``--eps``.
    """
    try:
        threat.check_box(classifier.clip_values, classifier.input_shape)
    except ValueError as error:
        raise JobError(str(error), "--eps") from error
    check_distinct([Spec.of(a) for a in attacks], "--attack")
    for spec in attacks:
        try:
            prepare_attack(spec, classifier, threat)
        except (ValueError, TypeError, ImportError) as error:
            raise JobError(f"{Spec.of(spec).label}: {error}", "--attack") from error
