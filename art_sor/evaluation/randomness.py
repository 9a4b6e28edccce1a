"""Reproducible attacks: ART's random starts and random searches draw from NumPy's and torch's global generators."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

ATTACK_SEED = 0
"""Seed of every attack run, so that the same model and data give the same robust accuracy."""


@contextmanager
def seeded(seed: int = ATTACK_SEED) -> Iterator[None]:
    """Seed NumPy's and torch's global generators inside the block and restore their states afterwards.

    ART's attacks take their random starts (PGD, APGD) and proposals (Square) from these generators, so seeding
    them makes an evaluation repeatable; restoring them leaves the caller's random streams as they were.
    """
    numpy_state = np.random.get_state()
    with torch.random.fork_rng():
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
