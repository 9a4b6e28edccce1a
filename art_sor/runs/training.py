"""One defence trained on one dataset, reproducibly and resumably, with the full key of what produced it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from art_sor.classifiers.checkpoints import save_classifier
from art_sor.core.errors import SettingError
from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.data.streaming import training_generator
from art_sor.registry import DEFENCES
from art_sor.runs.budget_fractions import FractionKeeper, check_budget_fractions
from art_sor.runs.data_split import SplitData, split_training_data
from art_sor.runs.epoch_hooks import BEST_FILE, BestRobustSelection, Budget, RobustnessMonitor
from art_sor.runs.folders import clear, exclusive
from art_sor.runs.reuse import finished_run
from art_sor.runs.run_classifier import build_run_classifier, seed_everything
from art_sor.runs.run_key import RunKey, RunMismatchError
from art_sor.runs.tracking import RunTracker
from art_sor.runs.trained_model import HISTORY_FILE, MODEL_FILE, TrainedModel, history_table
from art_sor.runs.training_setup import TrainingSetup
from art_sor.specs import Spec
from art_sor.storage import write_text
from art_sor.trainers.base import EpochCallback, EpochTrainer
from art_sor.trainers.state import STATE_FILE, ResumeMismatchError


def train_defence(spec: Spec | str, data: Dataset, threat: ThreatModel, setup: TrainingSetup,
                  out_dir: str | os.PathLike[str] | None = None, verbose: bool = True, overwrite: bool = False,
                  budget: Budget | None = None, monitor: RobustnessMonitor | None = None,
                  tracker: RunTracker | None = None, budget_fractions: Sequence[float] = ()) -> TrainedModel:
    """Train one defence from a seeded initialisation.

    With ``out_dir``, the folder is held by this process while it trains; the training state is saved after
    every epoch with the run's key, and the finished model goes to ``out_dir/model.pt`` with the key, history and
    selected epoch, and its history to ``out_dir/history.csv``. A rerun reuses a finished model only when its key
    is equal; a larger ``setup.epochs`` with everything else equal extends it (unless the schedule depends on the
    run's length); any other difference raises :class:`~art_sor.runs.run_key.RunMismatchError` naming the
    differing settings, unless ``overwrite`` clears the folder first.

    :param budget: Train whole epochs until the training time reaches it (``setup.epochs`` is then a cap); a
                   finished run with the same key is reused when it reached the budget within the cap or stopped at
                   the cap, extended when the cap has been raised above a run that had not reached its budget,
                   and refused when the cap is now below its epochs.
    :param monitor: Measure robustness on a fixed subset after every epoch.
    :param tracker: Log the run's settings and every epoch it lacks (see :mod:`~art_sor.runs.tracking`); the
                    caller closes it, after logging the final evaluation.
    :param budget_fractions: Fractions of ``budget`` (:func:`~art_sor.runs.budget_fractions.check_budget_fractions`)
                             at which the model is kept in ``out_dir`` (see
                             :class:`~art_sor.runs.budget_fractions.FractionKeeper`); they are part of the run's key,
                             and :func:`~art_sor.runs.budget_fractions.kept_models` reads the models back.
    :raises RunMismatchError: See above.
    :raises SettingError: Naming ``budget_fractions``, given without a budget or ``out_dir``, or with
                          ``setup.select`` other than ``"last"``.
    """
    if budget_fractions:
        budget_fractions = check_budget_fractions(budget_fractions)
        if budget is None or out_dir is None:
            raise SettingError("budget_fractions keeps models at fractions of a budget in out_dir; give both",
                               "budget_fractions")
        if setup.select != "last":
            raise SettingError(f"budget_fractions keeps the model of the epochs that cross them, which select="
                               f"{setup.select!r} would not report; select 'last'", "budget_fractions")
    spec = DEFENCES.check(spec)
    split = split_training_data(data, setup)
    seed_everything(setup.seed)
    classifier = build_run_classifier(data, setup)
    trainer = DEFENCES.build(spec, classifier, threat, step_settings=setup.step_settings)
    protocol = {"budget": budget.to_dict() if budget else None, "monitor": monitor.to_dict() if monitor else None}
    if budget_fractions:  # only then, so that the keys of runs without them stay as they were
        protocol["budget_fractions"] = list(budget_fractions)
    key = RunKey.create(data, threat, spec, trainer.config(), setup, protocol)
    trainer.tags = {"run": key.to_dict()}
    keeper = (FractionKeeper(budget, budget_fractions, Path(out_dir), setup.architecture, key)
              if budget is not None and out_dir is not None and budget_fractions else None)
    # The tracker runs last, so that it logs the entries the other hooks add to the record.
    hooks = [hook for hook in (monitor, budget, keeper, tracker) if hook is not None]
    if out_dir is None:
        if tracker is not None:
            tracker.start(key)
        return _train(spec, trainer, split, key, setup, threat, None, verbose, hooks)
    with exclusive(out_dir) as folder:
        if overwrite:
            clear(folder)
        if tracker is not None:
            tracker.start(key)
        finished = finished_run(folder, key, setup, budget)
        if finished is None:
            finished = _train(spec, trainer, split, key, setup, threat, folder, verbose, hooks)
        elif tracker is not None:
            tracker.log_history(finished.history)
        if trainer.parallel.leader:
            write_text(folder / HISTORY_FILE, history_table(finished.history).csv())
        return finished






def _train(spec: Spec, trainer: EpochTrainer, split: SplitData, key: RunKey, setup: TrainingSetup,
           threat: ThreatModel, folder: Path | None, verbose: bool, hooks: Sequence[EpochCallback]) -> TrainedModel:
    classifier = trainer.get_classifier()
    selection = (BestRobustSelection(split.x_validation, split.y_validation, threat, folder, trainer.tags)
                 if setup.select == "best-robust" else None)
    callbacks = [*([selection] if selection else []), *hooks]

    def after_epoch(current: EpochTrainer, record: dict[str, Any]) -> bool:
        # Every hook runs (no short circuit); any of them may stop training.
        stops = [bool(hook(current, record)) for hook in callbacks]
        return any(stops)

    if selection is not None and selection.best is None and folder is not None and (folder / STATE_FILE).exists():
        # Every saved epoch was evaluated and its best kept beside the state: without it no epoch can be chosen.
        raise FileNotFoundError(f"{folder / BEST_FILE} is missing: it held the most robust of the saved epochs, "
                                "which select='best-robust' needs to resume; train again with overwrite, or "
                                "select 'last'")
    streamed = setup.augmentation != "none" or setup.workers > 0
    batches = -(-len(split.x_train) // setup.batch_size)
    scheduler, interval = setup.schedule.build(classifier.optimizer, setup.epochs, batches)
    common = {"nb_epochs": setup.epochs, "scheduler": scheduler, "scheduler_interval": interval, "verbose": verbose,
              "checkpoint_dir": folder, "resume": folder is not None, "epoch_callback": after_epoch}
    try:
        if streamed:
            generator = training_generator(split.x_train, split.y_train, setup.batch_size, setup.augmentation,
                                           setup.workers, pin_memory=classifier.device.type == "cuda")
            history = trainer.fit_generator(generator, **common)
        else:
            history = trainer.fit(split.x_train, split.y_train, batch_size=setup.batch_size, **common)
    except ResumeMismatchError as error:
        raise RunMismatchError(f"{folder} holds an interrupted run that is not this one: {error}. Overwrite it, or "
                               "choose another folder") from error
    leader = trainer.parallel.leader
    selected = selection.restore_best(classifier) if selection is not None and leader else len(history)
    path = None
    if folder is not None and leader:
        path = save_classifier(folder / MODEL_FILE, classifier, setup.architecture,
                               metadata={"run": key.to_dict(), "history": history, "selected_epoch": selected,
                                         "world_size": trainer.parallel.size})
    classifier.model.eval()
    return TrainedModel(spec, classifier, list(history), key, selected, path, trainer.parallel.size)
