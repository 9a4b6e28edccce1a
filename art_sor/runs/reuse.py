"""Reuse of finished work: a folder's model is reused, extended or refused by run key; an evaluation by its full key."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from art_sor.classifiers.checkpoints import load_checkpoint, load_classifier
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.runs.epoch_hooks import Budget
from art_sor.runs.run_key import RunKey, RunMismatchError, plain, versions
from art_sor.runs.trained_model import MODEL_FILE, TrainedModel
from art_sor.runs.training_setup import TrainingSetup
from art_sor.specs import Spec
from art_sor.storage import read_checked_json

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
                            stored["world_size"],
                            reused=True)
    if not differences and epochs < setup.epochs and not setup.schedule.needs_length:
        logger.info("extending %s from %d to %d epochs", folder, epochs, setup.epochs)
        return None
    if epochs != setup.epochs:
        differences.append(f"setup.epochs: {epochs} → {setup.epochs}"
                           + (" (the schedule depends on the run's length)" if not differences else ""))
    raise RunMismatchError(f"{folder} holds a run with other settings: {', '.join(differences)}. Overwrite it, "
                           "or choose another folder")


def evaluation_cache_key(plan: EvaluationPlan, model: dict[str, Any]) -> dict[str, Any]:
    """What an evaluation's numbers depend on: the model's identity, the plan's key and art-sor's version.

    The version counts for every model, also one identified by its checkpoint's checksum alone, whose identity
    carries none: another art-sor may attack or check differently, so its evaluations are run again.
    """
    return {"model": plain(model), "plan": plan.key(), "art-sor": versions()["art-sor"]}


def stored_evaluation(cache: Path | None, key: dict[str, Any]) -> dict[str, Any] | None:
    """The cache's contents if it holds an evaluation (finished or not) under ``key``."""
    stored = read_checked_json(cache) if cache is not None and cache.exists() else None
    return stored if stored is not None and stored["key"] == key else None


def saved_examples_match(path: Path, key: dict[str, Any]) -> bool:
    """Whether ``path`` holds worst-case examples saved under ``key``."""
    if not path.exists():
        return False
    with np.load(path) as saved:
        return "key" in saved and json.loads(str(saved["key"])) == key
