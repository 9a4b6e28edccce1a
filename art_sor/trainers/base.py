"""The epoch driver shared by every art-sor trainer: validation, scheduler, history, checkpoints and resume."""

from __future__ import annotations

import abc
import difflib
import hashlib
import inspect
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from art.defences.trainer import Trainer
from torch import nn
from tqdm.auto import tqdm

from art_sor.classifiers.inputs import check_dataset, check_pytorch_classifier, generator_batch
from art_sor.classifiers.view import ClassifierView
from art_sor.core.checks import check_choice, check_count
from art_sor.core.errors import SettingError, SettingTypeError
from art_sor.core.threat import ThreatModel
from art_sor.trainers.distributed import DataParallel
from art_sor.trainers.state import (
    STATE_FILE,
    ResumeMismatchError,
    differing_settings,
    load_training_state,
    optimizer_settings,
    random_streams,
    restore_random_streams,
    save_training_state,
)

if TYPE_CHECKING:
    from art.data_generators import DataGenerator
    from art.estimators.classification import PyTorchClassifier

logger = logging.getLogger(__name__)

# Running means shown on the progress bar, when the trainer reports them.
_SHORT_NAMES = {"loss": "loss", "train_accuracy": "acc"}
# Steps between reads of the statistics from the device (progress bar, finiteness of the loss): a step itself
# never waits for the device.
_STEPS_PER_READ = 25

Batch = tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor, np.ndarray | None]
"""Inputs, labels and the samples' positions in ``fit``'s arrays (``None`` for a generator's batches)."""
Batches = Callable[[], Iterable[Batch]]
LabelledBatch = tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]
"""Inputs and their labels."""
EpochCallback = Callable[["EpochTrainer", dict[str, Any]], bool | None]
"""Called after each epoch with the trainer and the epoch's record, before the record is saved; it may add
entries to the record, and returning ``True`` stops training after this epoch."""
SchedulerInterval = Literal["epoch", "batch"]
SCHEDULER_INTERVALS: tuple[SchedulerInterval, ...] = ("epoch", "batch")

# An epoch after the first counts as collapsed when its training accuracy is at most this multiple of chance, or
# its clean loss is within this fraction of ln(nb_classes), the loss of a uniform prediction, and not falling.
_CHANCE_FACTOR = 1.2
_STALL_TOLERANCE = 0.02
# An epoch whose mean training loss exceeds this multiple of ln(nb_classes) has diverged: the weights have blown up
# though they are still finite (a uniform prediction scores ln K; no training that learns comes near this).
_DIVERGED_FACTOR = 1e4


def _refuse_unknown_keywords(method: str, kwargs: dict[str, Any]) -> None:
    """Refuse keywords that ``EpochTrainer.<method>`` would otherwise swallow and ignore (``epochs=5``)."""
    if not kwargs:
        return
    known = [name for name in inspect.signature(getattr(EpochTrainer, method)).parameters
             if name not in ("self", "kwargs")]
    hints = []
    for name in kwargs:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise TypeError(f"{method}() got unknown keyword argument(s) {', '.join(hints)}; it takes {', '.join(known)}")


def check_generator_epoch(generator: DataGenerator, nb_batches: int) -> None:
    """Refuse a generator whose own epoch is not ``nb_batches`` batches of ``generator.batch_size``.

    :raises ValueError: For a data loader of another batch size or length, one that drops its last batch, or a
                        generator whose epoch has another number of batches (ART's ``drop_remainder``).
    """
    own = getattr(generator, "batches_per_epoch", None)
    if isinstance(own, int) and own != nb_batches:
        raise ValueError(f"generator yields {own} batches per epoch (it drops the remainder), but generator.size "
                         f"{generator.size} in batches of {generator.batch_size} needs {nb_batches}; build it with "
                         "drop_remainder=False")
    loader = generator.iterator
    if not isinstance(loader, torch.utils.data.DataLoader):
        return
    if loader.batch_size is not None and loader.batch_size != generator.batch_size:
        raise ValueError(f"generator.batch_size is {generator.batch_size} but its DataLoader yields batches of "
                         f"{loader.batch_size}; declare the loader's batch size")
    length = len(loader.dataset) if hasattr(loader.dataset, "__len__") else None
    if length is not None and length != generator.size:
        raise ValueError(f"generator.size is {generator.size} but its DataLoader holds {length} samples; declare "
                         "the loader's size")
    if loader.drop_last and generator.size % generator.batch_size:
        raise ValueError(f"generator's DataLoader drops its last batch (drop_last=True), so an epoch of "
                         f"{generator.size} samples in batches of {generator.batch_size} never sees "
                         f"{generator.size % generator.batch_size} of them; build it with drop_last=False")


_FINGERPRINT_LENGTH = 64


def _fingerprint(x: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of the training inputs and labels (shapes and dtypes included)."""
    digest = hashlib.sha256()
    for array in (x, labels):
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


class EpochTrainer(Trainer):
    """An ART ``Trainer`` whose subclasses say how to train on one batch; this class runs the epochs.

    Per epoch it shuffles (with torch's global generator, so ``torch.manual_seed`` makes runs repeatable), shows a
    tqdm bar with loss and accuracy, steps the scheduler, measures validation accuracy with a single
    preprocessing pass, warns when training has collapsed to chance, appends a record to :attr:`history`, logs it,
    and saves the training state (weights, optimizer, scheduler, random streams) to ``checkpoint_dir`` so that no
    finished epoch is lost.

    ``nb_epochs`` counts all epochs of the trainer's history: a resumed run continues up to it, and a second
    ``fit(nb_epochs=2)`` on a trainer that has trained two epochs trains none and warns (pass ``nb_epochs=4`` for
    two more).

    Before the first epoch it checks the data against the classifier (shape, labels, ``clip_values``, dtype) and
    runs the model on two samples, so that a model returning a tuple or the wrong number of logits fails at once.

    :param classifier: ART ``PyTorchClassifier`` with an optimizer; it is trained in place.

    :ivar tags: Saved with every checkpoint; a resume whose tags differ is refused (art-sor's runs put their full
                key here).
    """

    method = "base"
    owns_learning_rate = False
    """True for trainers that set the learning rate themselves, which then refuse a scheduler."""
    supports_distributed = False
    """True for trainers whose steps average their gradients over processes (see :mod:`~.distributed`)."""
    adversarial_statistics = False
    """True for trainers whose recorded loss and accuracy are those of adversarial examples, which sit at chance early
    in a healthy run; the collapse check then looks at clean inputs too."""
    threat: ThreatModel | None = None
    """The threat model the trainer trains for (``None`` for standard training); a radius that reaches the centre
    of the data box is refused before the first epoch."""
    needs_sample_indices = False
    """True for trainers that keep state per training sample: they train with :meth:`fit`, whose steps get the
    samples' indices, and refuse :meth:`fit_generator`."""

    def __init__(self, classifier: PyTorchClassifier) -> None:
        check_pytorch_classifier(classifier, need_optimizer=True)
        self._parallel = DataParallel.current()
        if self._parallel.active and not self.supports_distributed:
            raise ValueError(f"{self.method} trains in one process only (it does not average gradients over "
                             f"processes), but {self._parallel.size} were launched; run it without torchrun")
        super().__init__(classifier)
        self._view = ClassifierView(classifier)
        self._optimizer_settings = optimizer_settings(classifier.optimizer)
        self.history: list[dict[str, Any]] = []
        self.tags: dict[str, Any] = {}
        self._batch_size: int | None = None
        # What identifies the run's data and schedule in its saved states, so that a resume on others is refused.
        self._data: str | None = None
        self._schedule: str | None = None
        self._saved_to: set[Path] = set()

    @property
    def parallel(self) -> DataParallel:
        """The process's place in the data-parallel group (a group of one without ``torch.distributed``)."""
        return self._parallel

    @property
    def view(self) -> ClassifierView:
        """The classifier as the trainer's passes see it.

        Inputs and labels as tensors on its device, its preprocessing, and the mode of the extra passes
        (:meth:`~art_sor.classifiers.view.ClassifierView.perturbation_mode`), which a diagnostic may replace.
        """
        return self._view

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run (saved with checkpoints and reports)."""
        return {"method": self.method, "optimizer": self._optimizer_settings}

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
        scheduler_interval: SchedulerInterval = "epoch",
        epoch_callback: EpochCallback | None = None,
        overwrite: bool = False,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Train on arrays.

        :param x: Training inputs, shape ``(n, *input_shape)``, inside the classifier's ``clip_values``; never
                  modified.
        :param y: Labels, class indices ``(n,)`` or one-hot ``(n, nb_classes)``; never modified.
        :param validation_data: ``(x_val, y_val)`` evaluated after each epoch.
        :param batch_size: Batch size.
        :param nb_epochs: Number of epochs in the history when ``fit`` returns (a resumed run continues up to it).
        :param scheduler: Any object with ``.step()``; a torch scheduler must belong to the classifier's optimizer.
        :param verbose: Show a progress bar per epoch.
        :param checkpoint_dir: Folder to save the training state to after every epoch.
        :param resume: Continue from the state in ``checkpoint_dir`` if there is one; a state saved with other
                       settings, other training data or another scheduler is refused.
        :param scheduler_interval: Step the scheduler once per ``"epoch"`` (``StepLR``, ``CosineAnnealingLR`` over
                                   epochs) or once per ``"batch"`` (``OneCycleLR``, warm-ups counted in steps).
        :param epoch_callback: Called after each epoch (see :data:`EpochCallback`), e.g. to evaluate robustness.
        :param overwrite: Without ``resume``, replace a training state that another run saved in ``checkpoint_dir``
                          (refused otherwise, so that no finished epoch is lost by mistake).
        :param kwargs: Taken for the signature of ART's ``Trainer.fit`` only: any keyword is refused.
        :return: The history, one record per epoch.
        :raises TypeError: Naming every keyword this method does not take (``epochs`` is ``nb_epochs``).
        """
        _refuse_unknown_keywords("fit", kwargs)
        classifier = self._classifier
        x, labels = check_dataset(x, y, classifier.input_shape, classifier.nb_classes,
                                  clip_values=classifier.clip_values)
        batch_size = check_count(batch_size, "batch_size")
        self.check_batches(len(x), batch_size)
        self._view.probe(x)
        n = len(x)

        def batches() -> Iterator[Batch]:
            order = torch.randperm(n).numpy()
            for start in range(0, n, batch_size):
                index = order[start:start + batch_size]
                index = index[self._parallel.shard(len(index))]
                yield x[index], labels[index], index

        self._batch_size = batch_size
        self._data = None if checkpoint_dir is None else _fingerprint(x, labels)
        return self._train(batches, math.ceil(n / batch_size), nb_epochs, validation_data, scheduler, verbose,
                           checkpoint_dir, resume, scheduler_interval, epoch_callback, overwrite)

    def fit_generator(
        self,
        generator: DataGenerator,
        nb_epochs: int = 20,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        scheduler: Any | None = None,
        verbose: bool = True,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
        scheduler_interval: SchedulerInterval = "epoch",
        epoch_callback: EpochCallback | None = None,
        overwrite: bool = False,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Train on an ART ``DataGenerator``; an epoch is ``ceil(generator.size / generator.batch_size)`` batches.

        Each batch must hold ``generator.batch_size`` samples (the last of an epoch the rest), so that an epoch sees
        every sample once; a generator that yields other sizes is refused. Batches may be NumPy arrays or CPU
        tensors (see :class:`art_sor.data.streaming.LoaderGenerator`); each is checked like ``fit``'s data. The
        other parameters are those of :meth:`fit`.

        :raises TypeError: Naming every keyword this method does not take.
        """
        _refuse_unknown_keywords("fit_generator", kwargs)
        from art.data_generators import DataGenerator

        if not isinstance(generator, DataGenerator):
            raise SettingTypeError(f"generator must be an art.data_generators.DataGenerator, got "
                                   f"{type(generator).__name__}", "generator")
        if generator.size is None:
            raise SettingError("generator.size is None; the trainer needs it to know the length of an epoch",
                               "generator")
        classifier = self._classifier
        self.check_batches(generator.size, generator.batch_size)
        nb_batches = math.ceil(generator.size / generator.batch_size)
        check_generator_epoch(generator, nb_batches)
        probed = False

        def batches() -> Iterator[Batch]:
            nonlocal probed
            for index in range(nb_batches):
                x_batch, y_batch = generator_batch(generator)
                expected = min(generator.batch_size, generator.size - index * generator.batch_size)
                if len(x_batch) != expected:
                    raise ValueError(f"generator.get_batch() returned {len(x_batch)} samples as batch {index + 1} of "
                                     f"{nb_batches}, but generator.batch_size {generator.batch_size} and "
                                     f"generator.size {generator.size} make it {expected}: an epoch would not see "
                                     "every sample once; declare the batch size the generator yields")
                x_batch, y_batch = check_dataset(x_batch, y_batch, classifier.input_shape, classifier.nb_classes,
                                                 ("generator batch x", "generator batch y"), classifier.clip_values)
                if not probed:
                    self._view.probe(x_batch, "generator batch x")
                    probed = True
                shard = self._parallel.shard(len(x_batch))
                yield x_batch[shard], y_batch[shard], None

        self._batch_size = generator.batch_size
        # Its samples cannot be read without drawing them: the generator's kind and size stand for them.
        self._data = f"{type(generator).__name__} of {generator.size} samples"
        return self._train(batches, nb_batches, nb_epochs, validation_data, scheduler, verbose, checkpoint_dir,
                           resume, scheduler_interval, epoch_callback, overwrite)

    def predict(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Predict with the trained classifier (see ``PyTorchClassifier.predict``)."""
        return self._classifier.predict(x, **kwargs)

    def _begin_epoch(self, epoch: int, nb_epochs: int, nb_batches: int) -> None:
        """Hook for settings that follow a schedule over epochs (called before each epoch)."""

    def check_batches(self, n: int, batch_size: int) -> None:
        """Refuse batches that some process would get nothing of, or a batch-norm layer one sample of.

        torch's batch norm cannot normalise one value per channel in training (``BatchNorm1d``, or ``BatchNorm2d``
        at a 1×1 feature map) and fails in the middle of an epoch; over the pixels of one image it normalises
        each image by itself. Either way, the batches are refused before training.

        :param n: Training samples.
        :param batch_size: Batch size.
        :raises SettingError: Naming ``batch_size`` (or the trainer's ``micro_batch_size``), or ``train_samples``
                              when there are fewer training samples than processes.
        """
        last = n % batch_size or batch_size
        if n < self._parallel.size:
            raise SettingError(f"{n} training sample(s) for {self._parallel.size} processes: every process "
                               "needs at least one, so train on more samples or with fewer processes", "train_samples")
        if last < self._parallel.size:
            raise SettingError(f"batch_size {batch_size} leaves a last batch of {last} samples for "
                               f"{self._parallel.size} processes; choose a batch size that leaves every process "
                               "at least one sample", "batch_size")
        if last == 1 and self._batch_norm_layer() is not None:
            batches = "batches" if batch_size == 1 else "a last batch"
            raise SettingError(f"batch_size {batch_size} leaves {batches} of one sample ({n} samples), which the "
                               f"model's {self._batch_norm_layer()} cannot normalise in training; choose another "
                               "batch_size" + ("" if batch_size == 1 else " or drop one sample"), "batch_size")

    def _batch_norm_layer(self) -> str | None:
        """The type of the model's first batch-norm layer, or ``None`` if it has none."""
        layer = next((m for m in self._view.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)), None)
        return None if layer is None else type(layer).__name__

    def _check_scheduler(self, scheduler: Any | None, interval: str) -> None:
        check_choice(interval, SCHEDULER_INTERVALS, "scheduler_interval")
        if scheduler is None:
            return
        if not callable(getattr(scheduler, "step", None)):
            raise SettingTypeError(f"scheduler must have a step() method, got {type(scheduler).__name__}",
                                   "scheduler")
        if self.owns_learning_rate:
            raise SettingError(f"scheduler: {self.method} sets the learning rate itself; pass scheduler=None",
                               "scheduler")
        stepped = getattr(scheduler, "optimizer", None)
        if stepped is not None and stepped is not self._classifier.optimizer:
            raise SettingError("scheduler steps another optimizer than the classifier's; build it on "
                               "classifier.optimizer", "scheduler")

    def _train(self, batches: Batches, nb_batches: int, nb_epochs: int,
               validation_data: tuple[np.ndarray, np.ndarray] | None, scheduler: Any | None, verbose: bool,
               checkpoint_dir: str | os.PathLike[str] | None, resume: bool, scheduler_interval: str,
               epoch_callback: EpochCallback | None, overwrite: bool = False) -> list[dict[str, Any]]:
        """The epochs up to ``nb_epochs``, each a loop over its batches and then its record (see :meth:`fit`)."""
        nb_epochs = check_count(nb_epochs, "nb_epochs")
        validation = self._prepare_run(nb_epochs, validation_data, scheduler, verbose, checkpoint_dir, resume,
                                       scheduler_interval, overwrite)
        per_batch = scheduler if scheduler_interval == "batch" else None
        self._parallel.broadcast_module(self._classifier.model)
        for epoch in range(len(self.history), nb_epochs):
            self._parallel.sync_random_state()
            self._begin_epoch(epoch, nb_epochs, nb_batches)
            # Sums weighted by batch size, kept on the device (float64) until they are read.
            totals: dict[str, torch.Tensor] = {}
            seen = 0
            learning_rate = float(self._classifier.optimizer.param_groups[0]["lr"])
            start, cpu_start = time.perf_counter(), time.process_time()
            last_batch: LabelledBatch | None = None
            progress = tqdm(batches(), total=nb_batches, desc=f"{self.method} {epoch + 1}/{nb_epochs}",
                            disable=not verbose, leave=False)
            for step, (x_batch, y_batch, indices) in enumerate(progress, 1):
                stats = self.training_step(x_batch, y_batch, indices)
                last_batch = (x_batch, y_batch)
                if per_batch is not None:
                    per_batch.step()
                seen += len(x_batch)
                for key, value in stats.items():
                    weighted = torch.as_tensor(value).double() * len(x_batch)
                    totals[key] = totals[key] + weighted if key in totals else weighted
                if step % _STEPS_PER_READ == 0:
                    self.check_losses()
                    if verbose:
                        progress.set_postfix({short: f"{float(totals[key]) / seen:.4f}"
                                              for key, short in _SHORT_NAMES.items() if key in totals})
            progress.close()
            record = self._epoch_record(epoch, totals, seen, start, cpu_start, learning_rate)
            if scheduler is not None and per_batch is None:
                scheduler.step()
            if self._end_epoch(record, last_batch, validation, epoch_callback, checkpoint_dir, scheduler):
                break
        self._classifier.model.eval()
        return self.history

    def _prepare_run(self, nb_epochs: int, validation_data: tuple[np.ndarray, np.ndarray] | None,
                     scheduler: Any | None, verbose: bool, checkpoint_dir: str | os.PathLike[str] | None,
                     resume: bool, scheduler_interval: str, overwrite: bool) -> tuple[np.ndarray, np.ndarray] | None:
        """Check the run's settings and resume its saved state; return the checked validation data."""
        if self.threat is not None:
            self.threat.check_box(self._classifier.clip_values, self._classifier.input_shape)
        self._check_scheduler(scheduler, scheduler_interval)
        if resume and checkpoint_dir is None:
            raise SettingError("resume=True needs checkpoint_dir", "resume")
        self._schedule = None if scheduler is None else f"{type(scheduler).__name__} per {scheduler_interval}"
        if checkpoint_dir is not None:
            self._check_checkpoint_dir(Path(checkpoint_dir), resume, overwrite)
        validation = None
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise SettingTypeError("validation_data must be a tuple (x_val, y_val)", "validation_data")
            validation = check_dataset(validation_data[0], validation_data[1], self._classifier.input_shape,
                                       self._classifier.nb_classes, ("validation_data[0]", "validation_data[1]"),
                                       self._classifier.clip_values)
        if resume:
            self._restore(checkpoint_dir, scheduler)
            if self.history and verbose and self._parallel.leader:
                tqdm.write(f"{self.method}: resuming after epoch {len(self.history)} from {checkpoint_dir}",
                           file=sys.stderr)
        elif len(self.history) >= nb_epochs:
            # Blamed on the caller of fit: _prepare_run, _train, fit, caller.
            warnings.warn(f"nb_epochs={nb_epochs}: this trainer has already trained {len(self.history)} epochs and "
                          f"nb_epochs counts all of them, so nothing was trained; pass nb_epochs="
                          f"{len(self.history) + nb_epochs} for {nb_epochs} more", UserWarning, stacklevel=4)
        return validation

    def _epoch_record(self, epoch: int, totals: dict[str, torch.Tensor], seen: int, start: float, cpu_start: float,
                      learning_rate: float) -> dict[str, Any]:
        """An epoch's record: its means over the global batch, its time (until the means are read) and learning rate."""
        self.check_losses()
        sums = [float(value) for value in totals.values()]
        # Means over the global batch: every process's sums, weighted by its samples.
        seen, *sums = self._parallel.sum([seen, *sums])
        record = {"epoch": epoch + 1, **{key: value / seen for key, value in zip(totals, sums, strict=True)}}
        record["seconds"] = time.perf_counter() - start
        # CPU time of all the process's threads: a second opinion when other processes share the machine.
        record["cpu_seconds"] = time.process_time() - cpu_start
        record["learning_rate"] = learning_rate
        return record

    def _end_epoch(self, record: dict[str, Any], last_batch: LabelledBatch | None,
                   validation: tuple[np.ndarray, np.ndarray] | None, epoch_callback: EpochCallback | None,
                   checkpoint_dir: str | os.PathLike[str] | None, scheduler: Any | None) -> bool:
        """Complete an epoch's record (validation, divergence, collapse, callback), keep and save it.

        :return: Whether the callback asked to stop after this epoch.
        """
        epoch = record["epoch"]
        self._parallel.average_buffers(self._classifier.model)
        if validation is not None:
            predictions = self._classifier.predict(validation[0]).argmax(axis=1)
            record["validation_accuracy"] = float(np.mean(predictions == validation[1]))
        self._check_divergence(record)
        warning = self.collapse_warning(record, last_batch)
        if warning is not None:
            record["warnings"] = [warning]
            logger.warning("%s epoch %d: %s", self.method, epoch, warning)
        stop = self._parallel.any(bool(epoch_callback(self, record)) if epoch_callback is not None else False)
        self.history.append(record)
        logger.info("%s epoch %d: %s", self.method, epoch,
                    ", ".join(f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, (int, float))))
        if checkpoint_dir is not None and self._parallel.leader:
            self._save(checkpoint_dir, scheduler)
        return stop

    def _check_checkpoint_dir(self, folder: Path, resume: bool, overwrite: bool) -> None:
        """Refuse a ``checkpoint_dir`` that is a file, or one holding another run's state when not resuming."""
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"checkpoint_dir {folder} is a file, not a folder; pass a folder for the training state")
        if resume or overwrite or folder.resolve() in self._saved_to or not (folder / STATE_FILE).exists():
            return
        raise ValueError(f"checkpoint_dir {folder} holds the training state of another run ({STATE_FILE}); pass "
                         "resume=True to continue it, overwrite=True to replace it, or another checkpoint_dir")

    def _check_divergence(self, record: dict[str, Any]) -> None:
        """Raise ``FloatingPointError`` for an epoch whose finite mean loss shows the weights have blown up."""
        loss, classes = record.get("loss"), self._classifier.nb_classes
        bound = _DIVERGED_FACTOR * max(math.log(classes), 1.0)
        if loss is not None and loss > bound:
            raise FloatingPointError(f"{self.method}: the mean training loss of epoch {record['epoch']} is "
                                     f"{loss:.3g}, over {bound:.3g} ({_DIVERGED_FACTOR:g} times the loss of a "
                                     "uniform guess): training has diverged; lower the learning rate")

    def collapse_warning(self, record: dict[str, Any], last_batch: LabelledBatch | None = None) -> str | None:
        """The warning for an epoch that sits at chance, or ``None`` for a healthy one.

        At chance means a training accuracy near ``1/K``, or a clean loss stalled near ``ln K``. The first epoch is
        spared: its running means include the random initialisation.

        :param record: The epoch's record (``epoch``, ``train_accuracy``, ``loss`` or ``clean_loss``).
        :param last_batch: The epoch's last batch ``(x, y)``. A trainer whose statistics are adversarial judges a
                           collapse on its clean inputs too (the attack may simply still win); ``None``: not judged.
        """
        if record["epoch"] == 1:
            return None
        classes = self._classifier.nb_classes
        accuracy = record.get("train_accuracy")
        loss = record.get("clean_loss", record.get("loss"))
        at_chance = accuracy is not None and accuracy <= _CHANCE_FACTOR / classes
        uniform = math.log(classes)
        previous = self.history[-1].get("clean_loss", self.history[-1].get("loss")) if self.history else None
        # At ln K and not falling: a slow start falls from ln K, a collapsed run hovers there.
        stalled = (loss is not None and abs(loss - uniform) <= _STALL_TOLERANCE * uniform
                   and (previous is None or loss >= previous - _STALL_TOLERANCE * uniform))
        if not (at_chance or stalled):
            return None
        symptom = (f"training accuracy {accuracy:.3f} is at chance (1/{classes})" if at_chance else
                   f"the clean loss {loss:.3f} has stalled at ln({classes}) = {math.log(classes):.3f}")
        if self.adversarial_statistics and last_batch is not None:
            # The attack may simply still win: a collapse shows on clean inputs too.
            clean = self._clean_accuracy(*last_batch)
            if clean > _CHANCE_FACTOR / classes:
                return None
            symptom = (f"the adversarial {symptom.replace('the clean loss', 'loss')}, and the clean accuracy of the "
                       f"epoch's last batch, {clean:.3f}, is at chance too")
        return f"training has collapsed: {symptom}. {self._collapse_advice()}"

    def _clean_accuracy(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
        """Accuracy of the model, in eval mode, on clean inputs."""
        with torch.no_grad(), self._view.eval_mode():
            logits = self._view.logits(self._view.inputs(x), fit=False)
        return float((logits.argmax(dim=1) == self._view.labels(y)).float().mean())

    def _collapse_advice(self) -> str:
        """The likely cause of a collapse and the option that helps, for the warning."""
        return "The learning rate is probably too high for this model; lower it or warm it up."

    def check_losses(self) -> None:
        """Raise ``FloatingPointError`` if a training loss since the last call was not finite.

        The loop calls it every few steps and at the end of each epoch, so that a step never waits for the device;
        a caller that runs :meth:`training_step` itself calls it after its steps.
        """

    @abc.abstractmethod
    def training_step(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                      indices: np.ndarray | None = None) -> dict[str, float | torch.Tensor]:
        """Train on one batch of inputs and class indices (one optimizer step, as Lightning's ``training_step``).

        :meth:`fit` calls it for every batch; it may be called directly, e.g. to time a step, after which
        :meth:`check_losses` reports a loss that was not finite.

        :param indices: The samples' positions in the training set (``fit`` gives them, ``fit_generator`` cannot);
                        only a trainer that keeps state per sample reads them.

        :return: At least ``loss`` and ``train_accuracy``, as floats or scalar tensors that may stay on the device.
        """

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
            "random": random_streams(),
            "tags": self.tags,
            "batch_size": self._batch_size,
            "data": self._data,
            "schedule": self._schedule,
            **self._extra_state(),
        }
        if hasattr(scheduler, "state_dict"):
            state["scheduler"] = scheduler.state_dict()
        save_training_state(checkpoint_dir, state)
        self._saved_to.add(Path(checkpoint_dir).resolve())

    def _restore(self, checkpoint_dir: str | os.PathLike[str], scheduler: Any | None) -> None:
        state = load_training_state(checkpoint_dir)
        if state is None:
            logger.info("no training state in %s; starting from scratch", checkpoint_dir)
            return
        if scheduler is None and not self.history:
            # Nothing but the caller changes a fresh trainer's optimizer before its first epoch; the settings of
            # the run are those the trainer was built with, and loading the saved state would undo the change.
            changed = differing_settings(self._optimizer_settings, optimizer_settings(self._classifier.optimizer))
            if changed:
                raise ResumeMismatchError(f"classifier.optimizer was changed after this trainer was built "
                                          f"({'; '.join(changed)}), and a resume restores the saved run's "
                                          "optimizer over it; build the trainer after setting the optimizer")
        differing = differing_settings({"config": state["config"], "tags": state["tags"]},
                                       {"config": self.config(), "tags": self.tags})
        saved_method = state["config"].get("method")
        if saved_method != self.method:  # another trainer's settings share few keys: name the trainer alone
            differing = [f"method: {saved_method} → {self.method}"]
        if state["batch_size"] != self._batch_size:
            differing.append(f"batch_size: {state['batch_size']} → {self._batch_size}")
        if self._data is not None and state["data"] != self._data:
            differing.append("training data: other x or y than the saved run's (their fingerprints differ)"
                             if len(state["data"] or "") == len(self._data) == _FINGERPRINT_LENGTH
                             else f"training data: {state['data']} → {self._data}")
        if state["schedule"] != self._schedule:
            differing.append(f"scheduler: {state['schedule']} → {self._schedule}")
        if differing:
            # A scheduler records initial_lr in the optimizer's groups: its absence on one side is the scheduler's.
            scheduled = [d for d in differing if ".initial_lr:" in d and ("None →" in d or d.endswith("→ None"))]
            hint = ("; the run was saved with a learning-rate scheduler and is resumed without one, or the other way "
                    "round: pass the same scheduler" if scheduled else "")
            raise ResumeMismatchError(f"checkpoint_dir holds a run with other settings (saved → this trainer): "
                                      f"{'; '.join(differing)}{hint}")
        try:
            self._classifier.model.load_state_dict(state["model"])
        except RuntimeError as error:
            raise ResumeMismatchError(f"checkpoint_dir holds the training state of another model: "
                             f"{str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else error}"
                             ) from error
        self._classifier.optimizer.load_state_dict(state["optimizer"])
        restore_random_streams(state["random"])
        self._load_extra_state(state)
        if "scheduler" in state and hasattr(scheduler, "load_state_dict"):
            scheduler.load_state_dict(state["scheduler"])
        self.history = list(state["history"])
        logger.info("resumed %s after epoch %d from %s", self.method, len(self.history), checkpoint_dir)
