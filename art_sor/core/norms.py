"""Threat-model norms: each norm's geometry (steepest step, projection, random start, dual norm) in one class.

Code elsewhere asks the norm's :class:`NormGeometry` instead of branching on its name, so a new norm is one class
here and an entry in :data:`GEOMETRIES`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar, Literal

import numpy as np
import torch

from art_sor.core.batch import TINY, per_sample, sample_norms, unit_directions
from art_sor.core.errors import SettingError

Norm = Literal["inf", "l2", "l1"]


class NormGeometry(ABC):
    """The ε-ball of one norm, per sample of a batch of shape ``(B, ...)``.

    :cvar name: Canonical name (``"inf"``, ``"l2"``, ``"l1"``), as recorded in run keys.
    :cvar label: Name for people to read.
    :cvar order: The value ART's attacks take as ``norm``.
    :cvar autoattack: The name pyautoattack takes as ``norm``.
    """

    name: ClassVar[Norm]
    label: ClassVar[str]
    order: ClassVar[float]
    autoattack: ClassVar[str]

    @abstractmethod
    def steepest(self, v: torch.Tensor, eps: float) -> torch.Tensor:
        """A maximiser of ``vᵀδ`` over ``‖δ‖ ≤ ε``; zero where ``v`` is zero."""

    @abstractmethod
    def project(self, delta: torch.Tensor, eps: float) -> torch.Tensor:
        """The closest point of ``‖δ‖ ≤ ε`` to each sample's ``δ``."""

    @abstractmethod
    def random(self, like: torch.Tensor, eps: float) -> torch.Tensor:
        """Points drawn uniformly from the ball, one per sample of ``like`` (torch's global generator)."""

    @abstractmethod
    def dual(self, flat: torch.Tensor) -> torch.Tensor:
        """Per-sample dual norm of ``flat`` (shape ``(B, d)``): the rise ``max vᵀδ`` over the unit ball."""

    @abstractmethod
    def size(self, flat: np.ndarray) -> np.ndarray:
        """Per-sample norm of ``flat`` (shape ``(B, d)``), in NumPy for measuring attacks' perturbations."""

    @abstractmethod
    def step_length(self, eps: float, dimension: int) -> float:
        """The L2 length of :meth:`steepest`'s step from a direction with no zero coordinate."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LInfGeometry(NormGeometry):
    """The L∞ ball: a box of half-width ε around the input."""

    name, label, order, autoattack = "inf", "L∞", math.inf, "Linf"

    def steepest(self, v: torch.Tensor, eps: float) -> torch.Tensor:
        """``ε·sign(v)``."""
        return eps * torch.sign(v)

    def project(self, delta: torch.Tensor, eps: float) -> torch.Tensor:
        """Clamp every coordinate to ``[−ε, ε]``."""
        return delta.clamp(-eps, eps)

    def random(self, like: torch.Tensor, eps: float) -> torch.Tensor:
        """Uniform per coordinate."""
        return (torch.rand_like(like) * 2 - 1) * eps

    def dual(self, flat: torch.Tensor) -> torch.Tensor:
        """The L1 norm."""
        return flat.abs().sum(1)

    def size(self, flat: np.ndarray) -> np.ndarray:
        """The largest coordinate's magnitude."""
        return np.abs(flat).max(axis=1)

    def step_length(self, eps: float, dimension: int) -> float:
        """``ε·√d``: the step is a corner of the box."""
        return eps * math.sqrt(dimension)


class L2Geometry(NormGeometry):
    """The Euclidean ball."""

    name, label, order, autoattack = "l2", "L2", 2.0, "L2"

    def steepest(self, v: torch.Tensor, eps: float) -> torch.Tensor:
        """``ε·v/‖v‖``."""
        norms = per_sample(sample_norms(v), v)
        return torch.where(norms > TINY, eps * v / norms.clamp_min(TINY), torch.zeros_like(v))

    def project(self, delta: torch.Tensor, eps: float) -> torch.Tensor:
        """Scale samples outside the ball back onto its sphere."""
        return delta * torch.clamp(eps / per_sample(sample_norms(delta), delta).clamp_min(TINY), max=1.0)

    def random(self, like: torch.Tensor, eps: float) -> torch.Tensor:
        """A uniform direction at radius ``ε·U^(1/d)``, which is uniform in the ball."""
        direction = unit_directions(torch.randn_like(like))
        radius = eps * torch.rand(len(like), device=like.device, dtype=like.dtype) ** (1.0 / like[0].numel())
        return direction * per_sample(radius, like)

    def dual(self, flat: torch.Tensor) -> torch.Tensor:
        """The L2 norm (self-dual)."""
        return flat.norm(dim=1)

    def size(self, flat: np.ndarray) -> np.ndarray:
        """The Euclidean norm."""
        return np.linalg.norm(flat, axis=1)

    def step_length(self, eps: float, dimension: int) -> float:
        """``ε``."""
        return eps


class L1Geometry(NormGeometry):
    """The L1 ball (a cross-polytope): sparse perturbations.

    | Paper link (projection): https://doi.org/10.1145/1390156.1390191 (Duchi et al. 2008)
    """

    name, label, order, autoattack = "l1", "L1", 1.0, "L1"

    def steepest(self, v: torch.Tensor, eps: float) -> torch.Tensor:
        """``ε·sign(v_i)`` on the coordinate of the largest ``|v_i|`` (the ball's vertex), zero elsewhere."""
        flat = v.flatten(1)
        index = flat.abs().argmax(dim=1, keepdim=True)
        step = torch.zeros_like(flat).scatter_(1, index, eps * torch.sign(flat.gather(1, index)))
        return step.view_as(v)

    def project(self, delta: torch.Tensor, eps: float) -> torch.Tensor:
        """Soft-threshold each sample at the level that puts it on the ball's surface (samples inside stay)."""
        flat = delta.flatten(1)
        magnitudes = flat.abs()
        ordered = magnitudes.sort(dim=1, descending=True).values
        excess = ordered.cumsum(dim=1) - eps
        counts = torch.arange(1, flat.shape[1] + 1, device=flat.device, dtype=flat.dtype)
        # The threshold uses the leading coordinates that stay non-zero after shrinking; they form a prefix.
        kept = (ordered * counts > excess).sum(dim=1, keepdim=True).clamp_min(1)
        threshold = (excess.gather(1, kept - 1) / kept.to(flat.dtype)).clamp_min(0)
        shrunk = torch.sign(flat) * (magnitudes - threshold).clamp_min(0)
        inside = per_sample(magnitudes.sum(dim=1) <= eps, flat)
        return torch.where(inside, flat, shrunk).view_as(delta)

    def random(self, like: torch.Tensor, eps: float) -> torch.Tensor:
        """Random signs on ``ε·(E₁ … E_d)/(E₁ + … + E_{d+1})`` with exponential ``E``: uniform in the ball."""
        flat = like.flatten(1)
        draws = -torch.log(torch.rand(len(flat), flat.shape[1] + 1, device=like.device, dtype=like.dtype)
                           .clamp_min(TINY))
        signs = torch.randint(0, 2, flat.shape, device=like.device).to(like.dtype) * 2 - 1
        return (eps * signs * draws[:, :-1] / draws.sum(dim=1, keepdim=True)).view_as(like)

    def dual(self, flat: torch.Tensor) -> torch.Tensor:
        """The L∞ norm."""
        return flat.abs().amax(dim=1)

    def size(self, flat: np.ndarray) -> np.ndarray:
        """The sum of magnitudes."""
        return np.abs(flat).sum(axis=1)

    def step_length(self, eps: float, dimension: int) -> float:
        """``ε``: the step is a vertex."""
        return eps


GEOMETRIES: dict[str, NormGeometry] = {geometry.name: geometry for geometry in
                                       (LInfGeometry(), L2Geometry(), L1Geometry())}
"""Every supported norm by canonical name."""

_SPELLINGS: dict[str, Norm] = {"inf": "inf", "linf": "inf", "l2": "l2", "2": "l2", "l1": "l1", "1": "l1"}
_ORDERS: dict[float, Norm] = {geometry.order: name for name, geometry in GEOMETRIES.items()}


def parse_norm(norm: object, name: str = "norm") -> Norm:
    """Map ``np.inf``, ``"inf"``, ``2``, ``"l2"``, ``1`` or ``"l1"`` (and a few other spellings) to a canonical name.

    :param norm: The user's spelling of the norm, or a :class:`NormGeometry`.
    :param name: Argument name used in the error message.
    :return: ``"inf"``, ``"l2"`` or ``"l1"``.
    :raises ValueError: If the norm is not one of them.
    """
    if isinstance(norm, NormGeometry):
        return norm.name
    if isinstance(norm, (int, float)) and not isinstance(norm, bool) and norm in _ORDERS:
        return _ORDERS[norm]
    if isinstance(norm, str) and norm.strip().lower() in _SPELLINGS:
        return _SPELLINGS[norm.strip().lower()]
    raise SettingError(f"{name} must be np.inf, 'inf', 2, 'l2', 1 or 'l1', got {norm!r}", name)


def geometry_of(norm: object, name: str = "norm") -> NormGeometry:
    """The geometry of any spelling :func:`parse_norm` accepts."""
    return GEOMETRIES[parse_norm(norm, name)]


def art_norm(norm: object) -> float:
    """Return the value ART's attacks expect for ``norm`` (``np.inf``, ``2`` or ``1``)."""
    return geometry_of(norm).order


def norm_label(norm: object) -> str:
    """Return the name of ``norm`` for people to read: ``"L∞"``, ``"L2"`` or ``"L1"``."""
    return geometry_of(norm).label
