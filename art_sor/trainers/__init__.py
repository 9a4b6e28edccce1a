"""ART trainers: an epoch driver, and on it one loop of a clean loss plus a pluggable regularizer."""

from art_sor.trainers.base import EpochTrainer
from art_sor.trainers.regularized import RegularizedTrainer
from art_sor.trainers.sor import SORTrainer
from art_sor.trainers.standard import StandardTrainer

__all__ = ["EpochTrainer", "RegularizedTrainer", "SORTrainer", "StandardTrainer"]
