"""Reuse of finished runs: a folder's model is reused, extended or refused by comparing run keys."""

from __future__ import annotations

import logging
from pathlib import Path

from art_sor.classifiers.checkpoints import load_checkpoint, load_classifier
from art_sor.runs.epoch_hooks import Budget
from art_sor.runs.identity import RunKey, RunMismatchError
from art_sor.runs.setup import TrainingSetup
from art_sor.runs.trained_model import MODEL_FILE, TrainedModel
from art_sor.specs import Spec

logger = logging.getLogger(__name__)


def finished_run(folder: Path, key: RunKey, setup: TrainingSetup, budget: Budget | None) -> TrainedModel | None:
    """The finished model in ``folder`` if it is this run, ``None`` if it should be (re)trained or extended."""
    model_path = folder / MODEL_FILE
    if not model_path.exists():
        # Nothing finished; an interrupted run resumes, and the trainer refuses its state if the key differs.
        return None
    state = load_checkpoint(model_path)
    stored = state["metadata"]
    differences = key.differences(RunKey.from_dict(stored["run"]))
    epochs = len(stored["history"])
    reached_budget = budget is not None and epochs < setup.epochs and budget.reached(stored["history"])
    if not differences and (epochs == setup.epochs or reached_budget):
        classifier, _ = load_classifier(model_path, device=setup.device)
        return TrainedModel(Spec.parse(stored["run"]["defence"]["spec"]), classifier, stored["history"], key,
                            stored["selected_epoch"], model_path,
                            stored.get("world_size", 1),  # models saved before data-parallel training had one
                            reused=True)
    if not differences and epochs < setup.epochs and not setup.schedule.needs_length:
        logger.info("extending %s from %d to %d epochs", folder, epochs, setup.epochs)
        return None
    if epochs != setup.epochs:
        differences.append(f"setup.epochs: {epochs} → {setup.epochs}"
                           + (" (the schedule depends on the run's length)" if not differences else ""))
    raise RunMismatchError(f"{folder} holds a run with other settings: {', '.join(differences)}. Pass --overwrite "
                           "to replace it, or choose another --out")
