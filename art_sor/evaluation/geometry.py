"""Loss-landscape geometry around the data: gradient norms, top Hessian eigenvalue and local linearity.

These test SOR's claim that it lowers curvature. They work for any ART ``PyTorchClassifier`` and are computed
with the pure-torch core, in eval mode, through the classifier's preprocessing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.inputs import check_dataset
from art_sor.classifiers.view import ClassifierView
from art_sor.core.batch import batch_dot, unit_directions
from art_sor.core.checks import check_count
from art_sor.core.gradients import GradientAt, LossFn, gradient_at
from art_sor.core.hvp import hessian_vector_product
from art_sor.core.local_linearity import linearity_gap, maximize_linearity_gap
from art_sor.core.threat import ThreatModel
from art_sor.evaluation.randomness import seeded


@dataclass
class Geometry:
    """Means over the samples.

    :ivar gradient_norm: ``‖∇ₓℓ‖₂``.
    :ivar gradient_dual_norm: ``‖∇ₓℓ‖_*`` of the threat model (L1 for L∞, L2 for L2, L∞ for L1).
    :ivar hessian_eigenvalue: Largest-magnitude eigenvalue of the input Hessian ``∇²ₓℓ`` (power iteration).
    :ivar linearity_gap: ``γ(ε) = max_{‖δ‖≤ε} |ℓ(x+δ) − ℓ(x) − δᵀ∇ℓ(x)|`` (PGD).
    :ivar samples: Number of samples.
    """

    gradient_norm: float
    gradient_dual_norm: float
    hessian_eigenvalue: float
    linearity_gap: float
    samples: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Geometry:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def geometry_metrics(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, threat: ThreatModel,
                     power_iterations: int = 20, linearity_steps: int = 10, batch_size: int = 100, seed: int = 0
                     ) -> Geometry:
    """Measure the input-space geometry of the loss on ``(x, y)``.

    :param classifier: Any ART ``PyTorchClassifier`` with a classification loss over class indices.
    :param x: Inputs; never modified.
    :param y: Labels, class indices or one-hot.
    :param threat: Threat model, for the dual gradient norm and the linearity gap.
    :param power_iterations: Power-iteration steps on exact Hessian-vector products.
    :param linearity_steps: PGD steps that maximise the linearity gap (step ``2.5ε/steps``, random start).
    :param batch_size: Samples per batch.
    :param seed: Seed of the random starts.
    """
    x, labels = check_dataset(x, y, classifier.input_shape, classifier.nb_classes)
    power_iterations, linearity_steps = check_count(power_iterations, "power_iterations"), check_count(
        linearity_steps, "linearity_steps")
    view = ClassifierView(classifier)
    generator = torch.Generator().manual_seed(seed)
    sums = np.zeros(4)
    with view.eval_mode(), seeded(seed):
        for start in range(0, len(x), batch_size):
            xb = view.inputs(x[start:start + batch_size])
            loss_fn = view.loss_fn(view.labels(labels[start:start + batch_size]), fit=False)
            at = gradient_at(loss_fn, xb, create_graph=True)
            flat = at.grad.detach().flatten(1)
            dual = threat.geometry.dual(flat)
            eigenvalues = _top_eigenvalues(loss_fn, at, power_iterations, generator)
            delta = maximize_linearity_gap(loss_fn, xb, at.losses, at.grad, threat, linearity_steps,
                                           2.5 * threat.eps / linearity_steps, view.box)
            gaps = linearity_gap(loss_fn, xb, at.losses.detach(), at.grad.detach(), delta).detach()
            sums += [float(flat.norm(dim=1).sum()), float(dual.sum()), float(eigenvalues.sum()), float(gaps.sum())]
    means = sums / len(x)
    return Geometry(gradient_norm=means[0], gradient_dual_norm=means[1], hessian_eigenvalue=means[2],
                    linearity_gap=means[3], samples=len(x))


def _top_eigenvalues(loss_fn: LossFn, at: GradientAt, iterations: int, generator: torch.Generator) -> torch.Tensor:
    """Per-sample Rayleigh quotient after power iteration on exact Hessian-vector products."""
    v = torch.randn(at.x.shape, generator=generator, dtype=at.x.dtype).to(at.x.device)
    v = unit_directions(v)
    for _ in range(iterations):
        v = unit_directions(hessian_vector_product(loss_fn, at, v, mode="exact").detach())
    return batch_dot(v, hessian_vector_product(loss_fn, at, v, mode="exact").detach())
