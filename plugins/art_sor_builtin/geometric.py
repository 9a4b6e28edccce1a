"""Factories for art-sor's own trainers: standard training, SOR and the geometric baselines GR, CURE and LLR."""

from __future__ import annotations

from typing import Any

from art_sor.defences import ThreatModel
from art_sor.trainers import SORTrainer, StandardTrainer
from art_sor.trainers.baselines import CURETrainer, GRTrainer, LLRTrainer
from art_sor.trainers.sor import DEFAULT_H, DEFAULT_LAM


def standard(classifier: Any, threat: ThreatModel, amp: bool = False) -> StandardTrainer:
    """Standard training on the clean loss (no defence)."""
    return StandardTrainer(classifier, amp=amp)


def sor(classifier: Any, threat: ThreatModel, iterations: int = 1, h: float = DEFAULT_H, lam: float = DEFAULT_LAM,
        hvp: str = "finite_difference", step: str = "replace", eps: float | None = None,
        amp: bool = False) -> SORTrainer:
    """Second-order regularizer (SOR): ℓ + λ·[gᵀδ + ½δᵀHδ] at the quadratic model's worst-case δ.

    ``eps`` trains at another radius than the threat model's (attacks still use the threat model's).
    """
    return SORTrainer(classifier, eps=eps if eps is not None else threat.eps, norm=threat.norm,
                      iterations=iterations, h=h, lam=lam, hvp=hvp, step=step, amp=amp)


def gr(classifier: Any, threat: ThreatModel, lam: float = 1.0, mode: str = "double_backprop", h: float = 0.1,
       amp: bool = False) -> GRTrainer:
    """Input-gradient regularization (GR): ℓ + λ·ε‖∇ₓℓ‖_* (dual norm of the threat model)."""
    return GRTrainer(classifier, eps=threat.eps, norm=threat.norm, lam=lam, mode=mode, h=h, amp=amp)


def cure(classifier: Any, threat: ThreatModel, lam: float = 4.0, h: float | None = None, warmup_epochs: int = 0,
         amp: bool = False) -> CURETrainer:
    """Curvature regularization (CURE): ℓ + λ‖∇ℓ(x + h·z) − ∇ℓ(x)‖², z = sign(g)/‖sign(g)‖₂."""
    return CURETrainer(classifier, eps=threat.eps, norm=threat.norm, lam=lam, h=h, warmup_epochs=warmup_epochs,
                       amp=amp)


def llr(classifier: Any, threat: ThreatModel, lam: float = 4.0, mu: float = 3.0, steps: int = 3,
        step_size: float | None = None, amp: bool = False) -> LLRTrainer:
    """Local linearity regularization (LLR): ℓ + λ·γ(ε, x) + μ·|δᵀ∇ℓ(x)|."""
    return LLRTrainer(classifier, eps=threat.eps, norm=threat.norm, lam=lam, mu=mu, steps=steps,
                      step_size=step_size, amp=amp)
