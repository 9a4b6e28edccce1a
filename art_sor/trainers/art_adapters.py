"""ART's own adversarial trainers behind art-sor's trainer interface, with ART 1.20's defects worked around.

Each adapter drives ART's per-batch step from art-sor's epoch driver, so it gets the same shuffling, history,
checkpoints, validation and scheduler handling as the other defences. The workarounds:

* ART's TRADES and FBF read ``model_outputs[0]``, which for an ``nn.Sequential`` is the first layer rather than
  the logits. The adapters hand ART a classifier around a one-output wrapper of the same module, so index 0 *is*
  the logits; parameters and optimizer are shared.
* TRADES and AWP reject schedulers that are not ``_LRScheduler`` subclasses (``StepLR`` among them on recent
  torch); the epoch driver steps any object with ``step()`` and ART never sees it.
* FBF rejects index labels; the adapter passes one-hot rows.
* ART preprocesses validation data twice; the epoch driver validates through ``classifier.predict`` once.
* ART's attacks draw their random starts from NumPy's global generator; the epoch driver saves and restores it
  with every checkpoint, so a resumed run repeats an uninterrupted one.

These adapters run in one process only (see :mod:`art_sor.trainers.distributed`).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from art.attacks.evasion import ProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier
from torch import nn

from art_sor.core.checks import check_count, check_non_negative, check_positive
from art_sor.core.errors import SettingError
from art_sor.core.threat import ThreatModel, check_threat
from art_sor.trainers.base import EpochTrainer
from art_sor.trainers.optimizer_step import OptimizerStep, detached_stats

if TYPE_CHECKING:
    from art.defences.trainer import (
        AdversarialTrainerAWPPyTorch,
        AdversarialTrainerFBFPyTorch,
        AdversarialTrainerTRADESPyTorch,
    )


class _Logits(nn.Module):
    """One-output view of a model: ART's wrapper then returns ``[logits]`` whatever the model's type."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def single_output_classifier(classifier: PyTorchClassifier, model: nn.Module | None = None,
                             optimizer: torch.optim.Optimizer | None = None) -> PyTorchClassifier:
    """A classifier that shares ``classifier``'s module (or wraps ``model``) behind a one-output wrapper."""
    standardisation = classifier.preprocessing
    return PyTorchClassifier(
        model=_Logits(model if model is not None else classifier.model), loss=classifier.loss,
        input_shape=classifier.input_shape, nb_classes=classifier.nb_classes,
        optimizer=optimizer if optimizer is not None else classifier.optimizer, clip_values=classifier.clip_values,
        preprocessing_defences=classifier.preprocessing_defences,
        preprocessing=(standardisation.mean, standardisation.std),
        device_type="gpu" if classifier.device.type == "cuda" else "cpu")


def art_pgd(classifier: PyTorchClassifier, threat: ThreatModel, steps: int, step_size: float | None
            ) -> ProjectedGradientDescent:
    """ART's PGD with a random start and ``steps`` steps of ``step_size`` (default ``2.5ε/steps``)."""
    steps = check_count(steps, "steps")
    step = check_positive(step_size, "step_size") if step_size is not None else 2.5 * threat.eps / steps
    return ProjectedGradientDescent(classifier, norm=threat.geometry.order, eps=threat.eps, eps_step=step,
                                    max_iter=steps, num_random_init=1, verbose=False)


def _one_hot(y: np.ndarray, nb_classes: int) -> np.ndarray:
    return np.eye(nb_classes, dtype=np.float32)[y]


def _batch_stats(method: str, loss_sum: float, correct: float, n: float) -> dict[str, float]:
    """The statistics of one of ART's batch steps, which return host floats (so the check costs nothing)."""
    if not np.isfinite(loss_sum):
        raise FloatingPointError(f"{method}: the training loss became {loss_sum / n}; lower the learning rate")
    return {"loss": loss_sum / n, "train_accuracy": correct / n}


def _numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


class MadryPGDAdapter(EpochTrainer):
    """Madry et al.'s PGD adversarial training with ART's PGD (``AdversarialTrainerMadryPGD``'s attack).

    Per batch, ART's ``ProjectedGradientDescent`` (random start, ``steps`` steps of ``2.5ε/steps``) replaces the
    whole batch by adversarial examples, and one plain training step follows on them, as ART's
    ``classifier.fit`` would take it (train mode, cross-entropy, the classifier's optimizer). For L∞ this is
    exactly ``AdversarialTrainerMadryPGD``'s protocol; ART's class fixes the norm to L∞, so L2 uses the same
    protocol with ART's L2 PGD. Compare with ``pgd-at``, the same defence on art-sor's own loop.

    | Paper link: https://arxiv.org/abs/1706.06083

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model, e.g. ``ThreatModel(0.1, "inf")``.
    :param steps: PGD steps.
    :param step_size: PGD step, by default ``2.5·ε/steps``.
    """

    method = "madry-pgd"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, steps: int = 7,
                 step_size: float | None = None) -> None:
        super().__init__(classifier)
        self.threat = check_threat(threat)
        self._attack = art_pgd(classifier, self.threat, steps, step_size)
        self.steps = self._attack.max_iter
        self._step = OptimizerStep(self._view, classifier.optimizer, False, self.method, self._parallel)

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), **self.threat.to_dict(), "steps": self.steps, "step_size": self._attack.eps_step}

    def training_step(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                      indices: np.ndarray | None = None) -> dict[str, float]:
        """As :meth:`EpochTrainer.training_step`."""
        x, y = _numpy(x), _numpy(y)
        adversarial = self._attack.generate(x, y=y)
        view = self._view
        view.model.train()
        self._step.zero_grad()
        labels = view.labels(y)
        logits = view.logits(view.inputs(adversarial))
        loss = view.per_sample_loss(logits, labels).mean()
        self._step.backward()(loss)
        self._step.step(len(labels))
        return detached_stats({"loss": loss, "train_accuracy": (logits.argmax(dim=1) == labels).float().mean()})

    def check_losses(self) -> None:
        """As :meth:`EpochTrainer.check_losses`."""
        self._step.check()


class TRADESAdapter(EpochTrainer):
    """TRADES (Zhang et al. 2019) through ART's ``AdversarialTrainerTRADESPyTorch``.

    | Paper link: https://proceedings.mlr.press/v97/zhang19p.html

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model, e.g. ``ThreatModel(0.1, "inf")``.
    :param beta: Weight of the KL term.
    :param steps: PGD steps of the inner maximisation.
    :param step_size: PGD step, by default ``2.5·ε/steps``.
    """

    method = "trades"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, beta: float = 6.0,
                 steps: int = 10, step_size: float | None = None) -> None:
        from art.defences.trainer import AdversarialTrainerTRADESPyTorch

        super().__init__(classifier)
        self.threat, self.beta, self.steps = check_threat(threat), check_non_negative(beta, "beta"), steps
        single = single_output_classifier(classifier)
        attack = art_pgd(single, self.threat, steps, step_size)
        self.step_size = attack.eps_step
        self._art: AdversarialTrainerTRADESPyTorch = AdversarialTrainerTRADESPyTorch(single, attack, beta=self.beta)

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), **self.threat.to_dict(), "beta": self.beta, "steps": self.steps,
                "step_size": self.step_size}

    def training_step(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                      indices: np.ndarray | None = None) -> dict[str, float]:
        """As :meth:`EpochTrainer.training_step`."""
        return _batch_stats(self.method, *self._art._batch_process(_numpy(x), _numpy(y)))


class FBFAdapter(EpochTrainer):
    """"Fast is better than free" (Wong et al. 2020) through ART's ``AdversarialTrainerFBFPyTorch``.

    FBF owns the learning rate: a triangular cycle over the whole run that peaks at the optimizer's initial rate
    two fifths of the way through (ART's cycle peaks at 0.21, which suits SGD on CIFAR, not Adam). L∞ only.
    Compare with ``fgsm-rs``, the same attack on art-sor's own loop with any schedule.

    | Paper link: https://openreview.net/forum?id=BJx040EFvH

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model; it must be L∞.
    """

    method = "fbf"
    owns_learning_rate = True

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel) -> None:
        from art.defences.trainer import AdversarialTrainerFBFPyTorch

        threat = check_threat(threat)
        if threat.norm != "inf":
            raise SettingError("fbf: ART's FBF supports only the L∞ threat model (norm='inf'); use fgsm-rs for L2",
                               "norm")
        super().__init__(classifier)
        self.threat = threat
        self._art: AdversarialTrainerFBFPyTorch = AdversarialTrainerFBFPyTorch(single_output_classifier(classifier),
                                                                               eps=threat.eps)
        self._peak_lr = float(classifier.optimizer.param_groups[0]["lr"])
        self._progress = (0, 1, 1)
        self._batch = 0

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), **self.threat.to_dict(), "peak_lr": self._peak_lr}

    def _begin_epoch(self, epoch: int, nb_epochs: int, nb_batches: int) -> None:
        self._progress = (epoch, nb_epochs, nb_batches)
        self._batch = 0

    def training_step(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                      indices: np.ndarray | None = None) -> dict[str, float]:
        """As :meth:`EpochTrainer.training_step`."""
        epoch, nb_epochs, nb_batches = self._progress
        self._batch += 1
        lr = float(np.interp(epoch + self._batch / nb_batches, [0, nb_epochs * 2 / 5, nb_epochs],
                             [0, self._peak_lr, 0]))
        return _batch_stats(self.method, *self._art._batch_process(
            _numpy(x), _one_hot(_numpy(y), self._classifier.nb_classes), lr))


class AWPAdapter(EpochTrainer):
    """Adversarial weight perturbation (Wu et al. 2020) on TRADES through ART's ``AdversarialTrainerAWPPyTorch``.

    The proxy model is a copy of the model with plain SGD, as in ART's examples.

    | Paper link: https://proceedings.neurips.cc/paper/2020/hash/1ef91c212e30e14bf125e9374262401f-Abstract.html

    :param classifier: ART ``PyTorchClassifier`` with an optimizer.
    :param threat: The threat model, e.g. ``ThreatModel(0.1, "inf")``.
    :param gamma: Size of the weight perturbation.
    :param beta: Weight of the TRADES KL term.
    :param warmup: Epochs before the weight perturbation starts.
    :param steps: PGD steps of the inner maximisation (step ``2.5ε/steps``).
    :param proxy_lr: Learning rate of the proxy model's SGD.
    """

    method = "awp"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, gamma: float = 0.005,
                 beta: float = 6.0, warmup: int = 0, steps: int = 10, proxy_lr: float = 0.01) -> None:
        from art.defences.trainer import AdversarialTrainerAWPPyTorch

        super().__init__(classifier)
        self.threat = check_threat(threat)
        self.gamma, self.beta = check_positive(gamma, "gamma"), check_non_negative(beta, "beta")
        self.warmup, self.steps = check_count(warmup, "warmup", minimum=0), check_count(steps, "steps")
        self.proxy_lr = check_positive(proxy_lr, "proxy_lr")
        single = single_output_classifier(classifier)
        proxy_model = copy.deepcopy(classifier.model)
        proxy = single_output_classifier(classifier, model=proxy_model,
                                         optimizer=torch.optim.SGD(proxy_model.parameters(), lr=self.proxy_lr))
        self._art: AdversarialTrainerAWPPyTorch = AdversarialTrainerAWPPyTorch(
            single, proxy, art_pgd(single, self.threat, self.steps, None), mode="TRADES", gamma=self.gamma,
            beta=self.beta, warmup=self.warmup)

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), **self.threat.to_dict(), "gamma": self.gamma, "beta": self.beta,
                "warmup": self.warmup, "steps": self.steps, "proxy_lr": self.proxy_lr}

    def _begin_epoch(self, epoch: int, nb_epochs: int, nb_batches: int) -> None:
        self._art._apply_wp = epoch >= self.warmup

    def training_step(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                      indices: np.ndarray | None = None) -> dict[str, float]:
        """As :meth:`EpochTrainer.training_step`."""
        return _batch_stats(self.method, *self._art._batch_process(_numpy(x), _numpy(y)))
