"""SORTrainer at paper scale: its double backward through deep architectures and under mixed precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import architecture_classifier

from art_sor import SORTrainer, StepSettings
from art_sor.core.threat import ThreatModel


def test_preact_resnet_through_the_sor_double_backward():
    """SOR with exact HVPs differentiates through BN and the residual sums twice."""
    torch.manual_seed(0)
    classifier = architecture_classifier("preact-resnet18", (1, 12, 12), 10, clip_values=(0.0, 1.0))
    x = np.random.default_rng(0).random((8, 1, 12, 12), dtype=np.float32)
    trainer = SORTrainer(classifier, ThreatModel(0.1, "inf"), hvp="exact", iterations=2)
    history = trainer.fit(x, np.arange(8) % 10, nb_epochs=1, batch_size=8, verbose=False)
    assert np.isfinite(history[0]["loss"])


def test_amp_bfloat16_through_exact_hvps_on_cpu(digits):
    classifier = architecture_classifier("small-cnn", (1, 8, 8), 10, clip_values=(0.0, 1.0))
    trainer = SORTrainer(classifier, ThreatModel(0.1, "inf"), hvp="exact", step_settings=StepSettings(amp=True))
    history = trainer.fit(digits.x_train[:128], digits.y_train[:128], nb_epochs=2, batch_size=64, verbose=False)
    assert all(np.isfinite(r["loss"]) for r in history)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("hvp", ["finite_difference", "exact"])
def test_cuda_float16_amp_through_the_double_backward(digits, hvp):
    classifier = architecture_classifier("preact-resnet18", (1, 8, 8), 10, clip_values=(0.0, 1.0), device="cuda")
    trainer = SORTrainer(classifier, ThreatModel(0.1, "inf"), hvp=hvp, iterations=2,
                         step_settings=StepSettings(amp=True))
    history = trainer.fit(digits.x_train[:256], digits.y_train[:256], nb_epochs=2, batch_size=64, verbose=False)
    assert all(np.isfinite(r["loss"]) for r in history)
    assert trainer.scales_gradients
