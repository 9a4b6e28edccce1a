"""art-sor's built-in defences, registered in the ``art_sor.defences`` entry-point group.

Each is its trainer class behind :func:`~art_sor.trainers.factory.defence_factory`, so that its options and
defaults are the trainer's own.
"""

from __future__ import annotations

from art_sor.trainers import SORTrainer, StandardTrainer
from art_sor.trainers.adversarial import FGSMRSTrainer, NFGSMTrainer, PGDTrainer
from art_sor.trainers.art_adapters import AWPAdapter, FBFAdapter, MadryPGDAdapter, TRADESAdapter
from art_sor.trainers.factory import defence_factory
from art_sor.trainers.geometric import CURETrainer, GRTrainer, LLRTrainer
from art_sor.trainers.single_step import ELLEATrainer, ELLETrainer, GradAlignTrainer
from art_sor.trainers.sor_memory import SORMemoryTrainer

standard = defence_factory(StandardTrainer, "Standard training on the clean loss (no defence).")
sor = defence_factory(SORTrainer, "Second-order regularizer (SOR): ℓ + λ·[gᵀδ + ½δᵀHδ] at the quadratic model's "
                                  "worst-case δ.")
sor_memory = defence_factory(SORMemoryTrainer, "SOR with memory: one Frank–Wolfe step of SOR's search per epoch from "
                                               "each sample's last δ, training on ℓ(x + δ).")
gr = defence_factory(GRTrainer, "Input-gradient regularization (GR): ℓ + λ·ε‖∇ₓℓ‖_* (dual norm of the threat "
                                "model).")
cure = defence_factory(CURETrainer, "Curvature regularization (CURE): ℓ + λ‖∇ℓ(x + h·z) − ∇ℓ(x)‖², "
                                    "z = sign(g)/‖sign(g)‖₂.")
llr = defence_factory(LLRTrainer, "Local linearity regularization (LLR): ℓ + λ·γ(ε, x) + μ·|δᵀ∇ℓ(x)|.")
pgd_at = defence_factory(PGDTrainer, "PGD adversarial training on art-sor's loop: k steps of 2.5ε/k from a random "
                                     "start.")
fgsm_rs = defence_factory(FGSMRSTrainer, "FGSM adversarial training with a random start (Wong et al. 2020), on "
                                         "art-sor's loop.")
n_fgsm = defence_factory(NFGSMTrainer, "N-FGSM (de Jorge et al. 2022): one FGSM step of ε from noise of radius 2ε, "
                                       "not projected, on art-sor's loop.")
madry_pgd = defence_factory(MadryPGDAdapter, "Madry PGD adversarial training with ART's PGD attack.")
trades = defence_factory(TRADESAdapter, "ART's TRADES: clean loss plus β·KL(clean ‖ PGD-perturbed).")
fbf = defence_factory(FBFAdapter, "ART's \"fast is better than free\": FGSM from a random start, cyclic learning "
                                  "rate (L∞).")
awp = defence_factory(AWPAdapter, "ART's adversarial weight perturbation on top of TRADES.")
gradalign = defence_factory(GradAlignTrainer, "GradAlign (Andriushchenko & Flammarion 2020): FGSM training plus "
                                              "λ·(1 − cos(∇ℓ(x), ∇ℓ(x + η))), η uniform in the ball.")
elle = defence_factory(ELLETrainer, "ELLE (Abad Rocamora et al. 2024): FGSM training plus λ· the local linearity "
                                    "error of loss values at three points of the ball.")
elle_a = defence_factory(ELLEATrainer, "ELLE-A: ELLE with an adaptive weight, 0 until the linearity error jumps, "
                                       "then λ_max decaying by 0.99 per step.")
