"""The canonical AutoAttack (pyautoattack) through ART's attack interface gives what pyautoattack gives directly, and
its L1-APGD is far stronger than ART's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TinyMLP
from torch import nn

from art_sor.classifiers.wrapping import wrap_model
from art_sor.core.threat import ThreatModel
from art_sor.evaluation import evaluate_attacks, prepare_attack
from art_sor.evaluation.canonical_autoattack import CanonicalAutoAttack

pyautoattack = pytest.importorskip("pyautoattack")


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(75, 16), nn.Tanh(), nn.Linear(16, 10))
    x = torch.rand(20, 3, 5, 5)  # L2 Square needs images of at least 5×5
    y = model(x).argmax(1)  # labels the model gets right, so every attack has work to do
    return model.eval(), x, y


@pytest.mark.slow
@pytest.mark.parametrize("norm,eps", [("inf", 0.03), pytest.param("l2", 0.3, marks=pytest.mark.long)])
def test_wrapper_matches_pyautoattack_directly(small_model, norm, eps):
    model, x, y = small_model
    direct = pyautoattack.AutoAttack(model, norm="Linf" if norm == "inf" else "L2", eps=eps, version="standard",
                                     seed=0, device="cpu")
    direct.verbose = False
    x_direct, _ = direct.run_standard_evaluation(x, y, batch_size=250)
    direct_accuracy = (model(x_direct).argmax(1) == y).float().mean().item()

    classifier = wrap_model(model, (3, 5, 5), 10, clip_values=(0.0, 1.0), device="cpu")
    attack = CanonicalAutoAttack(classifier, norm=norm, eps=eps, seed=0)
    x_art = attack.generate(x.numpy(), y=y.numpy())
    art_accuracy = float(np.mean(classifier.predict(x_art).argmax(1) == y.numpy()))
    assert art_accuracy == pytest.approx(direct_accuracy)
    np.testing.assert_allclose(x_art, x_direct.numpy(), atol=1e-6)
    assert direct_accuracy < 1  # the attack found adversarial examples


def test_through_the_registry_and_the_worst_case(small_model):
    model, x, y = small_model
    classifier = wrap_model(model, (3, 5, 5), 10, clip_values=(0.0, 1.0), device="cpu")
    threat = ThreatModel(0.3, "inf")  # large enough for APGD-CE to break everything, which keeps the test quick
    prepared = prepare_attack("autoattack-standard", classifier, threat)
    assert prepared.label == "AutoAttack (standard, Croce–Hein)" and prepared.ensemble
    result = evaluate_attacks(classifier, x[:8].numpy(), y[:8].numpy(), threat, ["pgd", "autoattack-standard"],
                              verbose=False)
    canonical = result.attacks[1]
    assert result.worst_case_accuracy() <= canonical.accuracy
    assert result.ensemble_gap == pytest.approx(result.attacks[0].accuracy - canonical.accuracy)


def test_fewer_than_ten_classes_target_all_others():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4)).eval()
    classifier = wrap_model(model, (3, 2, 2), 4, clip_values=(0.0, 1.0), device="cpu")
    x = np.random.default_rng(0).random((6, 3, 2, 2), dtype=np.float32)
    x_adv = CanonicalAutoAttack(classifier, eps=0.5).generate(x)  # APGD-CE breaks all: the test stays quick
    assert np.abs(x_adv - x).max() <= 0.5 + 1e-6
    assert np.all(classifier.predict(x_adv).argmax(1) != classifier.predict(x).argmax(1))


def test_needs_the_unit_box():
    model = TinyMLP()
    classifier = wrap_model(model, (5,), 3, clip_values=(0.0, 255.0), device="cpu")
    with pytest.raises(ValueError, match="clip_values"):
        CanonicalAutoAttack(classifier, eps=0.1)


def test_missing_package_gives_the_install_command(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyautoattack(name, *args, **kwargs):
        if name == "pyautoattack":
            raise ImportError("no module named pyautoattack")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyautoattack)
    classifier = wrap_model(nn.Sequential(nn.Flatten(), nn.Linear(12, 4)), (3, 2, 2), 4, clip_values=(0.0, 1.0),
                            device="cpu")
    with pytest.raises(ImportError, match=r"pip install 'art-sor\[autoattack\]'"):
        CanonicalAutoAttack(classifier, eps=0.1)


def test_canonical_l1_apgd_is_far_stronger_than_arts(digits):
    pytest.importorskip("pyautoattack")
    from art.attacks.evasion import AutoProjectedGradientDescent

    from art_sor.evaluation.robustness import evaluate_attacks
    from art_sor.runs.training import train_defence
    from art_sor.runs.training_setup import TrainingSetup

    setup = TrainingSetup(epochs=10, batch_size=64, device="cpu")
    classifier = train_defence("standard", digits, ThreatModel(0.2, "inf"), setup, verbose=False).classifier
    x, y = digits.x_test[:60], digits.y_test[:60]
    before = x.copy()
    result = evaluate_attacks(classifier, x, y, ThreatModel(2.0, "l1"), ["pgd", "apgd-ce:steps=20"], verbose=False)
    pgd, apgd = (attack.accuracy for attack in result.attacks)
    arts = AutoProjectedGradientDescent(classifier, norm=1, eps=2.0, eps_step=2.0, max_iter=20, verbose=False)
    art_apgd = float(np.mean(classifier.predict(arts.generate(x.copy(), y=y)).argmax(axis=1) == y))
    # Measured: PGD-20 57 %, ART's APGD 57 %, L1-APGD 8 %: dense L1 steps leave most samples standing.
    assert apgd < min(pgd, art_apgd) - 0.3
    assert np.array_equal(x, before)
