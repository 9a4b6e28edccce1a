"""ART's own adversarial trainers behind art-sor's trainer interface, with ART 1.20's defects worked around.

Each adapter drives ART's per-batch step from art-sor's epoch driver, so it gets the same shuffling, history,
checkpoints, validation and scheduler handling as the geometric defences. The workarounds:

* ART's TRADES and FBF read ``model_outputs[0]``, which for an ``nn.Sequential`` is the first layer rather than
  the logits. The adapters hand ART a classifier around a one-output wrapper of the same module, so index 0 *is*
  the logits; parameters and optimizer are shared.
* TRADES and AWP reject schedulers that are not ``_LRScheduler`` subclasses (``StepLR`` among them on recent
  torch); the epoch driver steps any object with ``step()`` and ART never sees it.
* FBF rejects index labels; the adapter passes one-hot rows.
* ART preprocesses validation data twice; the epoch driver validates through ``classifier.predict`` once.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from art.attacks.evasion import ProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier
from torch import nn

from art_sor.core.checks import check_count, check_non_negative, check_positive
from art_sor.core.norms import art_norm
from art_sor.defences import ThreatModel
from art_sor.trainers import EpochTrainer


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


def _pgd(classifier: PyTorchClassifier, threat: ThreatModel, steps: int, step_size: float | None
         ) -> ProjectedGradientDescent:
    steps = check_count(steps, "steps")
    step = check_positive(step_size, "step_size") if step_size is not None else 2.5 * threat.eps / steps
    return ProjectedGradientDescent(classifier, norm=art_norm(threat.norm), eps=threat.eps, eps_step=step,
                                    max_iter=steps, num_random_init=1, verbose=False)


def _one_hot(y: np.ndarray, nb_classes: int) -> np.ndarray:
    return np.eye(nb_classes, dtype=np.float32)[y]


def _batch_stats(loss_sum: float, correct: float, n: float) -> dict[str, float]:
    return {"loss": loss_sum / n, "train_accuracy": correct / n}


class MadryPGDAdapter(EpochTrainer):
    """Madry et al.'s PGD adversarial training as ART implements it (``AdversarialTrainerMadryPGD``).

    Per batch, ART's ``ProjectedGradientDescent`` (random start, ``steps`` steps of ``2.5ε/steps``) replaces the
    whole batch by adversarial examples, and the classifier's own ``fit`` takes one step on them. For L∞ this is
    exactly ``AdversarialTrainerMadryPGD``'s attack; ART's class fixes the norm to L∞, so L2 uses the same
    protocol with ART's L2 PGD.
    """

    method = "madry-pgd"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, steps: int = 7,
                 step_size: float | None = None) -> None:
        super().__init__(classifier)
        self.threat, self.steps = threat, steps
        self._attack = _pgd(classifier, threat, steps, step_size)

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), "eps": self.threat.eps, "norm": self.threat.norm, "steps": self.steps,
                "step_size": self._attack.eps_step}

    def _train_batch(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        adversarial = self._attack.generate(x, y=y)
        self._classifier.fit(adversarial, y, batch_size=len(x), nb_epochs=1, verbose=False)
        return {}


class TRADESAdapter(EpochTrainer):
    """TRADES (Zhang et al. 2019) through ART's ``AdversarialTrainerTRADESPyTorch``.

    | Paper link: https://proceedings.mlr.press/v97/zhang19p.html
    """

    method = "trades"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, beta: float = 6.0, steps: int = 10,
                 step_size: float | None = None) -> None:
        from art.defences.trainer import AdversarialTrainerTRADESPyTorch

        super().__init__(classifier)
        self.threat, self.beta, self.steps = threat, check_non_negative(beta, "beta"), steps
        single = single_output_classifier(classifier)
        self._art = AdversarialTrainerTRADESPyTorch(single, _pgd(single, threat, steps, step_size), beta=self.beta)

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), "eps": self.threat.eps, "norm": self.threat.norm, "beta": self.beta,
                "steps": self.steps}

    def _train_batch(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        return _batch_stats(*self._art._batch_process(x, y))


class FBFAdapter(EpochTrainer):
    """"Fast is better than free" (Wong et al. 2020) through ART's ``AdversarialTrainerFBFPyTorch``.

    FBF owns the learning rate: a triangular cycle over the whole run that peaks at the optimizer's initial rate
    two fifths of the way through (ART's cycle peaks at 0.21, which suits SGD on CIFAR, not Adam). L∞ only.

    | Paper link: https://openreview.net/forum?id=BJx040EFvH
    """

    method = "fbf"
    owns_learning_rate = True

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel) -> None:
        from art.defences.trainer import AdversarialTrainerFBFPyTorch

        if threat.norm != "inf":
            raise ValueError("fbf: ART's FBF supports only the L∞ threat model (norm='inf')")
        super().__init__(classifier)
        self.threat = threat
        self._art = AdversarialTrainerFBFPyTorch(single_output_classifier(classifier), eps=threat.eps)
        self._peak_lr = float(classifier.optimizer.param_groups[0]["lr"])
        self._progress = (0, 1, 1)
        self._batch = 0

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), "eps": self.threat.eps, "peak_lr": self._peak_lr}

    def _begin_epoch(self, epoch: int, nb_epochs: int, nb_batches: int) -> None:
        self._progress = (epoch, nb_epochs, nb_batches)
        self._batch = 0

    def _train_batch(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        epoch, nb_epochs, nb_batches = self._progress
        self._batch += 1
        lr = float(np.interp(epoch + self._batch / nb_batches, [0, nb_epochs * 2 / 5, nb_epochs],
                             [0, self._peak_lr, 0]))
        return _batch_stats(*self._art._batch_process(x, _one_hot(y, self._classifier.nb_classes), lr))


class AWPAdapter(EpochTrainer):
    """Adversarial weight perturbation (Wu et al. 2020) on TRADES through ART's ``AdversarialTrainerAWPPyTorch``.

    The proxy model is a copy of the model with plain SGD, as in ART's examples.

    | Paper link: https://proceedings.neurips.cc/paper/2020/hash/1ef91c212e30e14bf125e9374262401f-Abstract.html
    """

    method = "awp"

    def __init__(self, classifier: PyTorchClassifier, threat: ThreatModel, gamma: float = 0.005, beta: float = 6.0,
                 warmup: int = 0, steps: int = 10, proxy_lr: float = 0.01) -> None:
        from art.defences.trainer import AdversarialTrainerAWPPyTorch

        super().__init__(classifier)
        self.threat, self.gamma, self.beta, self.warmup, self.steps = threat, gamma, beta, warmup, steps
        single = single_output_classifier(classifier)
        proxy_model = copy.deepcopy(classifier.model)
        proxy = single_output_classifier(classifier, model=proxy_model,
                                         optimizer=torch.optim.SGD(proxy_model.parameters(), lr=proxy_lr))
        self._art = AdversarialTrainerAWPPyTorch(single, proxy, _pgd(single, threat, steps, None), mode="TRADES",
                                                 gamma=check_positive(gamma, "gamma"),
                                                 beta=check_non_negative(beta, "beta"),
                                                 warmup=check_count(warmup, "warmup", minimum=0))

    def config(self) -> dict[str, Any]:
        """Hyperparameters that identify this training run."""
        return {**super().config(), "eps": self.threat.eps, "norm": self.threat.norm, "gamma": self.gamma,
                "beta": self.beta, "warmup": self.warmup, "steps": self.steps}

    def _begin_epoch(self, epoch: int, nb_epochs: int, nb_batches: int) -> None:
        self._art._apply_wp = epoch >= self.warmup

    def _train_batch(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        return _batch_stats(*self._art._batch_process(x, y))


def madry_pgd(classifier: PyTorchClassifier, threat: ThreatModel, steps: int = 7,
              step_size: float | None = None) -> MadryPGDAdapter:
    """ART's Madry PGD adversarial training (PGD with `steps` steps, random start)."""
    return MadryPGDAdapter(classifier, threat, steps=steps, step_size=step_size)


def trades(classifier: PyTorchClassifier, threat: ThreatModel, beta: float = 6.0, steps: int = 10) -> TRADESAdapter:
    """ART's TRADES: clean loss plus β·KL(clean ‖ PGD-perturbed)."""
    return TRADESAdapter(classifier, threat, beta=beta, steps=steps)


def fbf(classifier: PyTorchClassifier, threat: ThreatModel) -> FBFAdapter:
    """ART's "fast is better than free": single-step FGSM from a random start, cyclic learning rate."""
    return FBFAdapter(classifier, threat)


def awp(classifier: PyTorchClassifier, threat: ThreatModel, gamma: float = 0.005, beta: float = 6.0,
        warmup: int = 0) -> AWPAdapter:
    """ART's adversarial weight perturbation on top of TRADES."""
    return AWPAdapter(classifier, threat, gamma=gamma, beta=beta, warmup=warmup)
