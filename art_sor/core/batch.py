"""Per-sample arithmetic on batches of shape ``(B, ...)``: inner products, norms and broadcasting."""

from __future__ import annotations

import torch

TINY = 1e-12
"""Norms below this count as zero (a zero direction gives a zero step)."""


def per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape per-sample ``values`` of shape ``(B,)`` to broadcast against a batch ``like`` of shape ``(B, ...)``."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def batch_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample inner product of two batches of the same shape, shape ``(B,)``."""
    return (a * b).flatten(1).sum(dim=1)


def sample_norms(v: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm, shape ``(B,)``."""
    return v.flatten(1).norm(dim=1)


def unit_directions(v: torch.Tensor) -> torch.Tensor:
    """Each sample divided by its L2 norm; a zero sample stays zero."""
    return v / per_sample(sample_norms(v).clamp_min(TINY), v)
