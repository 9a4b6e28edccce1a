"""Pure-torch core of art-sor: input gradients, Hessian-vector products, perturbation search and losses.

Nothing in this package imports ART, so it runs on any ``loss_fn`` that maps a batch of inputs to per-sample
losses.
"""

from art_sor.core.errors import SettingError, SettingTypeError
from art_sor.core.gradients import GradientAt, LossFn, gradient_at
from art_sor.core.hvp import HVP_MODES, hessian_vector_product
from art_sor.core.lmo import Box, linear_maximizer
from art_sor.core.norms import Norm, parse_norm
from art_sor.core.penalty import Penalty, Regularizer
from art_sor.core.search import STEP_RULES, worst_case_perturbation
from art_sor.core.sor import SecondOrderRegularizer, SORLoss, sor_loss
from art_sor.core.threat import STANDARD_RADII, Radius, ThreatModel, standard_radius

__all__ = [
    "HVP_MODES",
    "STANDARD_RADII",
    "STEP_RULES",
    "Box",
    "GradientAt",
    "LossFn",
    "Norm",
    "Penalty",
    "Radius",
    "Regularizer",
    "SORLoss",
    "SecondOrderRegularizer",
    "SettingError",
    "SettingTypeError",
    "ThreatModel",
    "gradient_at",
    "hessian_vector_product",
    "linear_maximizer",
    "parse_norm",
    "sor_loss",
    "standard_radius",
    "worst_case_perturbation",
]
