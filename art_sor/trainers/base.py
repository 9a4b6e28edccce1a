"""The epoch driver shared by every art-sor trainer: validation, scheduler, history, checkpoints and resume."""

from __future__ import annotations

import abc
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from art.defences.trainer import Trainer
from tqdm.auto import tqdm

from art_sor.trainers.state import load_training_state, save_training_state
from art_sor.validation import check_count, check_dataset, check_pytorch_classifier

if TYPE_CHECKING:
    from art.data_generators import DataGenerator
    from art.estimators.classification import PyTorchClassifier

logger = logging.getLogger(__name__)

# Running means shown on the progress bar, when the trainer reports them.
_SHORT_NAMES = {"loss": "loss", "train_accuracy": "acc"}

Batches = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]


class EpochTrainer(Trainer):
    """An ART ``Trainer`` whose subclasses say how to train on one batch; this class runs the epochs.

    Per epoch it shuffles (with torch's global generator, so ``torch.manual_seed`` makes runs repeatable), shows a
    tqdm bar with loss and accuracy, steps the scheduler, measures validation accuracy with a single
    preprocessing pass, appends a record to :attr:`history`, logs it, and saves the training state to
    ``checkpoint_dir`` so that no finished epoch is lost.

    :param classifier: ART ``PyTorchClassifier`` with an optimizer; it is trained in place.
    """

    method = "base"
    owns_learning_rate = False
    """True for trainers that set the learning rate themselves, which then refuse a scheduler."""

    def __init__(self, classifier: PyTorchClassifier) -> None:
        check_pytorch_classifier(classifier, need_optimizer=True)
        super().__init__(classifier)
        self.history: list[dict[str, Any]] = []

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run (saved with checkpoints and reports)."""
        return {"method": self.method}

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        batch_size: int = 128,
        nb_epochs: int = 20,
        scheduler: Any | None = None,
        verbose: bool = True,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Train on arrays.

        :param x: Training inputs, shape ``(n, *input_shape)``; never modified.
        :param y: Labels, class indices ``(n,)`` or one-hot ``(n, nb_classes)``; never modified.
        :param validation_data: ``(x_val, y_val)`` evaluated after each epoch.
        :param batch_size: Batch size.
        :param nb_epochs: Number of epochs in total (a resumed run continues up to it).
        :param scheduler: Any object with ``.step()``, stepped once per epoch (``StepLR`` and friends).
        :param verbose: Show a progress bar per epoch.
        :param checkpoint_dir: Folder to save the training state to after every epoch.
        :param resume: Continue from the state in ``checkpoint_dir`` if there is one.
        :return: The history, one record per epoch.
        """
        classifier = self._classifier
        x, labels = check_dataset(x, y, classifier.input_shape, classifier.nb_classes)
        batch_size = check_count(batch_size, "batch_size")
        n = len(x)

        def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            order = torch.randperm(n).numpy()
            for start in range(0, n, batch_size):
                index = order[start:start + batch_size]
                yield x[index], labels[index]

        return self._train(batches, math.ceil(n / batch_size), nb_epochs, validation_data, scheduler, verbose,
                           checkpoint_dir, resume)

    def fit_generator(
        self,
        generator: DataGenerator,
        nb_epochs: int = 20,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        scheduler: Any | None = None,
        verbose: bool = True,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Train on an ART ``DataGenerator``; an epoch is ``ceil(generator.size / generator.batch_size)`` batches.

        The other parameters are those of :meth:`fit`.
        """
        from art.data_generators import DataGenerator

        if not isinstance(generator, DataGenerator):
            raise TypeError(f"generator must be an art.data_generators.DataGenerator, got {type(generator).__name__}")
        if generator.size is None:
            raise ValueError("generator.size is None; the trainer needs it to know the length of an epoch")
        classifier = self._classifier

        def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for _ in range(nb_batches):
                x_batch, y_batch = generator.get_batch()
                yield check_dataset(np.asarray(x_batch), y_batch, classifier.input_shape, classifier.nb_classes,
                                    names=("generator batch x", "generator batch y"))

        nb_batches = math.ceil(generator.size / generator.batch_size)
        return self._train(batches, nb_batches, nb_epochs, validation_data, scheduler, verbose, checkpoint_dir,
                           resume)

    def predict(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Predict with the trained classifier (see ``PyTorchClassifier.predict``)."""
        return self._classifier.predict(x, **kwargs)

    def _begin_epoch(self, epoch: int, nb_epochs: int, nb_batches: int) -> None:
        """Hook for settings that follow a schedule over epochs (called before each epoch)."""

    def _train(self, batches: Batches, nb_batches: int, nb_epochs: int,
               validation_data: tuple[np.ndarray, np.ndarray] | None, scheduler: Any | None, verbose: bool,
               checkpoint_dir: str | os.PathLike[str] | None, resume: bool) -> list[dict[str, Any]]:
        nb_epochs = check_count(nb_epochs, "nb_epochs")
        if scheduler is not None and not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"scheduler must have a step() method, got {type(scheduler).__name__}")
        if scheduler is not None and self.owns_learning_rate:
            raise ValueError(f"scheduler: {self.method} sets the learning rate itself; pass scheduler=None")
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir")
        validation = None
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise TypeError("validation_data must be a tuple (x_val, y_val)")
            validation = check_dataset(validation_data[0], validation_data[1], self._classifier.input_shape,
                                       self._classifier.nb_classes,
                                       names=("validation_data[0]", "validation_data[1]"))
        if resume:
            self._restore(checkpoint_dir, scheduler)

        for epoch in range(len(self.history), nb_epochs):
            self._begin_epoch(epoch, nb_epochs, nb_batches)
            record = self._train_epoch(batches(), nb_batches, f"{self.method} {epoch + 1}/{nb_epochs}", verbose)
            if scheduler is not None:
                scheduler.step()
            record = {"epoch": epoch + 1, **record}
            if validation is not None:
                predictions = self._classifier.predict(validation[0]).argmax(axis=1)
                record["validation_accuracy"] = float(np.mean(predictions == validation[1]))
            self.history.append(record)
            logger.info("%s epoch %d: %s", self.method, epoch + 1,
                        ", ".join(f"{k}={v:.4g}" for k, v in record.items() if k != "epoch"))
            if checkpoint_dir is not None:
                self._save(checkpoint_dir, scheduler)
        self._classifier.model.eval()
        return self.history

    def _train_epoch(self, batches: Iterable[tuple[np.ndarray, np.ndarray]], nb_batches: int, desc: str,
                     verbose: bool) -> dict[str, float]:
        totals: dict[str, float] = {}
        seen = 0
        start, cpu_start = time.perf_counter(), time.process_time()
        progress = tqdm(batches, total=nb_batches, desc=desc, disable=not verbose, leave=False)
        for x_batch, y_batch in progress:
            stats = self._train_batch(x_batch, y_batch)
            seen += len(x_batch)
            for key, value in stats.items():
                totals[key] = totals.get(key, 0.0) + value * len(x_batch)
            progress.set_postfix({short: f"{totals[key] / seen:.4f}" for key, short in _SHORT_NAMES.items()
                                  if key in totals})
        progress.close()
        record = {key: value / seen for key, value in totals.items()}
        record["seconds"] = time.perf_counter() - start
        # CPU time of all the process's threads: a second opinion when other processes share the machine.
        record["cpu_seconds"] = time.process_time() - cpu_start
        record["learning_rate"] = float(self._classifier.optimizer.param_groups[0]["lr"])
        return record

    @abc.abstractmethod
    def _train_batch(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Train on one batch of inputs and class indices; return at least ``loss`` and ``train_accuracy``."""

    def _extra_state(self) -> dict[str, Any]:
        """State beyond model, optimizer and history that a resumed run needs."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_extra_state` saved."""

    def _save(self, checkpoint_dir: str | os.PathLike[str], scheduler: Any | None) -> None:
        state = {
            "config": self.config(),
            "history": self.history,
            "model": self._classifier.model.state_dict(),
            "optimizer": self._classifier.optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            **self._extra_state(),
        }
        if hasattr(scheduler, "state_dict"):
            state["scheduler"] = scheduler.state_dict()
        save_training_state(checkpoint_dir, state)

    def _restore(self, checkpoint_dir: str | os.PathLike[str], scheduler: Any | None) -> None:
        state = load_training_state(checkpoint_dir)
        if state is None:
            logger.info("no training state in %s; starting from scratch", checkpoint_dir)
            return
        if state["config"] != self.config():
            raise ValueError(f"checkpoint_dir holds a run with another configuration: {state['config']} "
                             f"(this trainer: {self.config()})")
        self._classifier.model.load_state_dict(state["model"])
        self._classifier.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        self._load_extra_state(state)
        if "scheduler" in state and hasattr(scheduler, "load_state_dict"):
            scheduler.load_state_dict(state["scheduler"])
        self.history = list(state["history"])
        logger.info("resumed %s after epoch %d from %s", self.method, len(self.history), checkpoint_dir)
