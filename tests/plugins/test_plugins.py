"""Defences come from the art_sor.defences entry-point group; ART's trainers come with their defects fixed."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import digits_cnn, make_classifier

import art_sor
from art_sor.core.threat import ThreatModel
from art_sor.registry import DEFENCES
from art_sor.specs import Spec
from art_sor.trainers.geometric import CURETrainer


def build_trainer(spec, classifier, threat):
    return DEFENCES.build(spec, classifier, threat)

BUILT_IN = {"standard", "sor", "gr", "cure", "llr", "pgd-at", "fgsm-rs", "madry-pgd", "trades", "fbf", "awp"}


def test_built_in_defences_are_entry_points():
    assert set(DEFENCES.names()) >= BUILT_IN


@pytest.mark.slow
def test_core_never_imports_plugins_and_core_never_imports_art():
    package = pathlib.Path(art_sor.__file__).parent
    for source in package.rglob("*.py"):
        assert "art_sor_builtin" not in source.read_text(), source
    probe = "import sys, art_sor.core; sys.exit('art' in sys.modules or 'art_sor_builtin' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0


def _throwaway_plugin(root: pathlib.Path) -> pathlib.Path:
    """A package that only declares an entry point, laid out as pip installs it (code plus dist-info)."""
    site = root / "site"
    (site / "throwaway_defence").mkdir(parents=True)
    (site / "throwaway_defence" / "__init__.py").write_text(textwrap.dedent('''
        from art_sor.trainers import RegularizedTrainer, StepSettings

        def build(classifier, threat, step_settings=StepSettings(), lam=0.0):
            """Throwaway: standard training under another name."""
            trainer = RegularizedTrainer(classifier, step_settings=step_settings)
            trainer.method = "throwaway"
            return trainer
    '''))
    info = site / "throwaway_defence-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: throwaway-defence\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[art_sor.defences]\nthrowaway = throwaway_defence:build\n")
    return site


def test_third_party_defence_needs_only_an_entry_point(tmp_path, monkeypatch, small_digits):
    site = _throwaway_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(site))
    assert "throwaway" in DEFENCES.names()
    trainer = build_trainer("throwaway:lam=0.5", make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.1, "inf"))
    x, y, _, _ = small_digits
    assert len(trainer.fit(x, y, nb_epochs=1, verbose=False)) == 1


@pytest.mark.slow
def test_third_party_defence_reaches_the_cli(tmp_path):
    site = _throwaway_plugin(tmp_path)
    env = {**__import__("os").environ, "PYTHONPATH": f"{site}", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "art_sor.cli", "train", "--defence", "throwaway", "--epochs", "1",
                             "--eval-samples", "20", "--attack-steps", "2", "--quiet", "--device", "cpu",
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "throwaway" in result.stdout


def test_defence_spec_parsing():
    spec = Spec.parse("sor:iterations=3,lam=0.5,hvp=exact,amp=false")
    assert spec.name == "sor" and dict(spec.options) == {"iterations": 3, "lam": 0.5, "hvp": "exact", "amp": False}
    assert spec.label == "sor:iterations=3,lam=0.5,hvp=exact,amp=False"
    for bad in ("", ":x=1", "sor:iterations", "..", "a/b", "../sor", "sor:lam=1,lam=2"):
        with pytest.raises(ValueError, match="spec"):
            Spec.parse(bad)


def test_unknown_defence_and_option_are_named():
    classifier = make_classifier(digits_cnn(), (1, 8, 8))
    with pytest.raises(ValueError, match="unknown defence 'nope'"):
        build_trainer("nope", classifier, ThreatModel(0.1, "inf"))
    with pytest.raises(ValueError, match="colour"):
        build_trainer("sor:colour=1", classifier, ThreatModel(0.1, "inf"))


def test_cure_h_follows_its_warmup_schedule(small_digits):
    x, y, _, _ = small_digits
    classifier = make_classifier(digits_cnn(), (1, 8, 8))
    trainer = CURETrainer(classifier, ThreatModel(0.1, "inf"), warmup_epochs=2)
    assert trainer.regularizer.h == pytest.approx(0.1 * 8)  # ε·√d with d = 64: h·z = ε·sign(g)
    seen = []
    trainer.fit(x, y, nb_epochs=4, verbose=False,
                epoch_callback=lambda current, record: seen.append(current.epoch_regularizer.h))
    assert seen == pytest.approx([0.8 / 3, 1.6 / 3, 0.8, 0.8])


# ---- ART's own trainers: each known defect, shown on ART and fixed in the adapter ----

@pytest.fixture
def sequential_classifier():
    torch.manual_seed(0)
    return make_classifier(digits_cnn(), (1, 8, 8), clip_values=(0.0, 1.0))


def test_art_trades_breaks_on_sequential_and_step_lr_but_adapter_does_not(sequential_classifier, small_digits):
    from art.attacks.evasion import ProjectedGradientDescent
    from art.defences.trainer import AdversarialTrainerTRADESPyTorch

    x, y, x_val, y_val = small_digits
    attack = ProjectedGradientDescent(sequential_classifier, eps=0.1, eps_step=0.03, max_iter=2, verbose=False)
    art_trades = AdversarialTrainerTRADESPyTorch(sequential_classifier, attack, beta=6.0)
    with pytest.raises(RuntimeError):  # indexes the outputs of an nn.Sequential with [0]
        art_trades.fit(x, y, nb_epochs=1, batch_size=64)
    scheduler = torch.optim.lr_scheduler.StepLR(sequential_classifier.optimizer, step_size=1, gamma=0.5)
    trainer = build_trainer("trades:steps=2", sequential_classifier, ThreatModel(0.1, "inf"))
    history = trainer.fit(x, y, validation_data=(x_val, y_val), nb_epochs=2, batch_size=64, scheduler=scheduler,
                          verbose=False)
    assert [record["learning_rate"] for record in history] == pytest.approx([0.01, 0.005])
    assert history[-1]["validation_accuracy"] > 0.2  # chance is 0.1


def test_art_fbf_rejects_index_labels_but_adapter_accepts_them(sequential_classifier, small_digits):
    from art.defences.trainer import AdversarialTrainerFBFPyTorch

    x, y, x_val, y_val = small_digits
    with pytest.raises((ValueError, IndexError, np.exceptions.AxisError)):
        AdversarialTrainerFBFPyTorch(sequential_classifier, eps=0.1).fit(x, y, nb_epochs=1, batch_size=64)
    torch.manual_seed(0)
    classifier = make_classifier(digits_cnn(), (1, 8, 8), clip_values=(0.0, 1.0))
    history = build_trainer("fbf", classifier, ThreatModel(0.1, "inf")).fit(
        x, y, validation_data=(x_val, y_val), nb_epochs=3, batch_size=32, verbose=False)
    assert history[-1]["validation_accuracy"] > 0.2  # chance is 0.1
    assert history[0]["learning_rate"] > 0


def test_fbf_owns_the_learning_rate_and_is_linf_only(sequential_classifier, small_digits):
    x, y, _, _ = small_digits
    scheduler = torch.optim.lr_scheduler.StepLR(sequential_classifier.optimizer, step_size=1)
    with pytest.raises(ValueError, match="scheduler"):
        build_trainer("fbf", sequential_classifier, ThreatModel(0.1, "inf")).fit(x, y, scheduler=scheduler)
    with pytest.raises(ValueError, match="L∞"):
        build_trainer("fbf", sequential_classifier, ThreatModel(0.5, "l2"))


@pytest.mark.parametrize("spec", ["madry-pgd:steps=2", "awp"])
def test_madry_and_awp_adapters_train(spec, sequential_classifier, small_digits, tmp_path):
    x, y, x_val, y_val = small_digits
    np.random.seed(0)  # ART's attacks start from NumPy's global generator, which earlier tests leave anywhere
    scheduler = torch.optim.lr_scheduler.StepLR(sequential_classifier.optimizer, step_size=1, gamma=0.5)
    trainer = build_trainer(spec, sequential_classifier, ThreatModel(0.1, "inf"))
    history = trainer.fit(x, y, validation_data=(x_val, y_val), nb_epochs=2, batch_size=64, scheduler=scheduler,
                          verbose=False, checkpoint_dir=tmp_path)
    assert len(history) == 2 and history[-1]["validation_accuracy"] > 0.3
    assert (tmp_path / "training_state.pt").exists()


def test_adapters_validate_once(small_digits):
    """ART standardises validation data twice; the adapters report what classifier.predict reports."""
    x, y, x_val, y_val = small_digits
    torch.manual_seed(0)
    classifier = make_classifier(digits_cnn(), (1, 8, 8), clip_values=(0.0, 1.0), preprocessing=(0.3, 0.4))
    history = build_trainer("trades:steps=1", classifier, ThreatModel(0.1, "inf")).fit(
        x, y, validation_data=(x_val, y_val), nb_epochs=1, verbose=False)
    assert history[0]["validation_accuracy"] == pytest.approx(np.mean(classifier.predict(x_val).argmax(1) == y_val))


def _throwaway_distribution(root: pathlib.Path) -> pathlib.Path:
    """One third-party distribution declaring an attack, a dataset and an architecture, as pip installs it."""
    site = root / "site3"
    package = site / "throwaway_kit"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent('''
        import numpy as np
        from art.attacks.evasion import FastGradientMethod
        from torch import nn

        from art_sor.data import Dataset
        from art_sor.evaluation.attacks import PreparedAttack

        def stripes(root, download, size=6):
            """Throwaway dataset: vertical against horizontal stripes."""
            rng = np.random.default_rng(0)
            x = np.zeros((80, 1, size, size), dtype=np.float32)
            y = np.arange(80) % 2
            x[y == 0, :, :, ::2] = 1.0
            x[y == 1, :, ::2, :] = 1.0
            x = np.clip(x + rng.uniform(0, 0.2, x.shape).astype(np.float32), 0, 1)
            return Dataset("stripes", x[:60], y[:60], x[60:], y[60:], ("vertical", "horizontal"))

        def tiny_net(input_shape, nb_classes):
            """Throwaway architecture: one linear layer."""
            return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), nb_classes))

        def half_fgsm(classifier, threat, batch_size, fraction=0.5):
            """Throwaway attack: FGSM with a fraction of the budget."""
            attack = FastGradientMethod(classifier, norm=np.inf, eps=fraction * threat.eps, batch_size=batch_size)
            return PreparedAttack("half-FGSM", attack, iterative=False)
    '''))
    info = site / "throwaway_kit-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: throwaway-kit\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[art_sor.datasets]\nstripes = throwaway_kit:stripes\n\n"
                                           "[art_sor.architectures]\ntiny-net = throwaway_kit:tiny_net\n\n"
                                           "[art_sor.attacks]\nhalf-fgsm = throwaway_kit:half_fgsm\n")
    return site


@pytest.mark.slow
def test_third_party_dataset_architecture_and_attack_reach_the_cli(tmp_path):
    site = _throwaway_distribution(tmp_path)
    env = {**__import__("os").environ, "PYTHONPATH": f"{site}", "OMP_NUM_THREADS": "1"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "art_sor.cli", *args], capture_output=True, text=True, env=env)

    listing = cli("list").stdout
    for name in ("stripes", "tiny-net", "half-fgsm", "Throwaway attack"):
        assert name in listing, name
    trained = cli("train", "--dataset", "stripes", "--architecture", "tiny-net", "--defence", "standard", "--eps",
                  "0.1", "--epochs", "3", "--eval-samples", "20", "--quiet", "--device", "cpu", "--out",
                  str(tmp_path / "out"))
    assert trained.returncode == 0, trained.stderr
    assert "stripes, tiny-net" in trained.stdout
    evaluated = cli("evaluate", str(tmp_path / "out" / "standard" / "model.pt"), "--dataset", "stripes",
                    "--attack", "half-fgsm:fraction=0.25", "--attack", "pgd", "--no-curve", "--no-geometry",
                    "--quiet", "--device", "cpu", "--out", str(tmp_path / "eval"))
    assert evaluated.returncode == 0, evaluated.stderr
    assert "half-FGSM" in evaluated.stdout
    wrong = cli("evaluate", str(tmp_path / "out" / "standard" / "model.pt"), "--dataset", "stripes", "--attack",
                "half-fgsm:colour=1", "--quiet", "--out", str(tmp_path / "eval2"))
    assert wrong.returncode == 2 and "takes no option 'colour'" in wrong.stderr
