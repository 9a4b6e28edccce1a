"""ART trainers: an epoch driver, one loop of a clean loss plus a pluggable regularizer, and adversarial training."""

from art_sor.trainers.base import EpochTrainer
from art_sor.trainers.regularized import RegularizedTrainer
from art_sor.trainers.sor import SORTrainer
from art_sor.trainers.standard import StandardTrainer
from art_sor.trainers.torch_step import StepSettings, TorchStepTrainer

__all__ = ["EpochTrainer", "RegularizedTrainer", "SORTrainer", "StandardTrainer", "StepSettings", "TorchStepTrainer"]
