"""Security curves: accuracy against ε, up to an ε at which every classifier must be at chance or below."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from art.estimators.classification import PyTorchClassifier
from tqdm.auto import tqdm

from art_sor.classifiers.inputs import check_dataset
from art_sor.core.checks import check_count
from art_sor.core.errors import SettingError
from art_sor.core.norms import Norm, NormGeometry, geometry_of
from art_sor.core.threat import ThreatModel, check_threat
from art_sor.evaluation.robustness import evaluate_attacks
from art_sor.specs import Spec


@dataclass
class SecurityCurve:
    """Accuracy of one attack at each ε; ``chance`` is ``1 / nb_classes``."""

    attack: str
    norm: Norm
    eps: list[float]
    accuracy: list[float]
    chance: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecurityCurve:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def unbounded_eps(classifier: PyTorchClassifier, norm: Norm | NormGeometry) -> float:
    """Half the data range, in the threat norm: enough to move every input to the box's centre.

    ``norm`` is the norm's name or its geometry (a threat model's, looked up once). At this ε all inputs can be
    mapped to one image, so no classifier can beat chance on balanced data.
    """
    if classifier.clip_values is None:
        raise SettingError("classifier has no clip_values, so the unbounded ε is undefined; pass eps_max", "eps_max")
    low, high = (np.broadcast_to(np.asarray(v, dtype=np.float64), classifier.input_shape) for v in
                 classifier.clip_values)
    half = (high - low) / 2
    return float(geometry_of(norm).size(half.reshape(1, -1))[0])


def security_curve(classifier: PyTorchClassifier, x: np.ndarray, y: np.ndarray, threat: ThreatModel,
                   attack: str | Spec = "pgd:steps=50", eps_max: float | None = None, points: int = 9,
                   eps_values: Sequence[float] | None = None, batch_size: int = 128,
                   verbose: bool = True) -> SecurityCurve:
    """Accuracy under ``attack`` in ``threat``'s norm at ``points`` values of ε from 0 to ``eps_max``, and at its ε.

    ``pgd``'s step is ε/8 at every ε, so the attack scales with the budget.

    :param threat: The threat model: its norm is the curve's, its radius (the evaluated one) one of its points.
    :param eps_max: The largest ε, by default :func:`unbounded_eps`.
    :param eps_values: The ε values, instead of ``points`` evenly spaced ones.
    """
    threat = check_threat(threat)
    x, labels = check_dataset(x, y, classifier.input_shape, classifier.nb_classes)
    if eps_values is None:
        eps_max = eps_max if eps_max is not None else unbounded_eps(classifier, threat.geometry)
        eps_values = np.linspace(0.0, eps_max, check_count(points, "points", minimum=2)).tolist()
    eps_values = sorted({float(e) for e in eps_values} | {threat.eps})
    spec = Spec.of(attack)
    accuracy = []
    for eps in tqdm(eps_values, desc=f"security curve ({spec.label})", disable=not verbose):
        if eps == 0:
            accuracy.append(float(np.mean(classifier.predict(x, batch_size=batch_size).argmax(1) == labels)))
        else:
            # One threat model per radius: the attacks take the ball whole; the norm is the threat's, not re-parsed.
            ball = threat if eps == threat.eps else replace(threat, eps=eps)
            result = evaluate_attacks(classifier, x, labels, ball, [spec], batch_size=batch_size, verbose=False)
            accuracy.append(result.attacks[0].accuracy)
    return SecurityCurve(attack=spec.label, norm=threat.norm, eps=eps_values, accuracy=accuracy,
                         chance=1.0 / classifier.nb_classes)
