"""SOR under the ordinary SGD + BatchNorm recipe of the stability issue, on four seeds (opt-in: --long)."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

BENCHMARK = pathlib.Path(__file__).parents[2] / "benchmarks" / "batchnorm_stability.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("batchnorm_stability", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.long
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_sor_defaults_survive_sgd_and_batchnorm(seed):
    """Digits, BN CNN with dropout, SGD 0.05 / momentum 0.9 / wd 5e-4, cosine over 30 epochs, batch 64, ε = 0.2."""
    result = _benchmark().run("sor", "batch", seed, epochs=30)
    assert result["clean"] >= 0.85 and result["pgd20"] >= 0.20, result
    assert not result["collapsed"]
