"""The cheaper step: one clean pass, staged backward passes, micro-batches, the settings that reach the trainer,
and N-FGSM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import digits_cnn, make_classifier, per_sample_ce
from torch import nn

from art_sor.classifiers.view import ClassifierView
from art_sor.core.curvature import CurvatureRegularizer
from art_sor.core.errors import SettingError
from art_sor.core.gradient_norm import GradientNormRegularizer
from art_sor.core.local_linearity import LocalLinearityRegularizer
from art_sor.core.penalty import ParameterBackward
from art_sor.core.sor import SecondOrderRegularizer
from art_sor.core.threat import ThreatModel
from art_sor.registry import DEFENCES, RegistryError
from art_sor.trainers import SORTrainer, StandardTrainer, StepSettings
from art_sor.trainers.adversarial import NFGSMTrainer
from art_sor.trainers.regularized import RegularizedTrainer


def bn_classifier(seed: int = 0, dropout: float = 0.0, **kwargs):
    torch.manual_seed(seed)
    model = digits_cnn(seed, batch_norm=True).double()
    if dropout:
        model.insert(4, nn.Dropout(dropout))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model, nn.CrossEntropyLoss(), (1, 8, 8), 10, optimizer=optimizer,
                             clip_values=(0.0, 1.0), device_type="cpu", **kwargs)


def two_pass_update(classifier, regularizer, x, y) -> None:
    """The step before pass reuse: the penalty on batch statistics without touching the running statistics,
    then a separate train-mode clean pass that updates them, one backward of the sum."""
    view = ClassifierView(classifier)
    model = view.model
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    classifier.optimizer.zero_grad()
    with view.perturbation_mode("batch", getattr(regularizer, "differentiation_order", 2)):
        penalty = regularizer(view.loss_fn(y), x)
    model.train()
    clean = view.per_sample_loss(model(x), y).mean()
    (clean + penalty.value).backward()
    classifier.optimizer.step()


REGULARIZERS = {
    "sor": lambda box: SecondOrderRegularizer(ThreatModel(0.1, "inf"), box=box),
    "sor-n3": lambda box: SecondOrderRegularizer(ThreatModel(0.1, "inf"), iterations=3, step="frank_wolfe", box=box),
    "sor-exact": lambda box: SecondOrderRegularizer(ThreatModel(0.1, "l2"), hvp="exact", box=box),
    "sor-loss-difference": lambda box: SecondOrderRegularizer(ThreatModel(0.1, "inf"), hvp="loss_difference", h=0.5,
                                                              box=box),
    "sor-perturbed": lambda box: SecondOrderRegularizer(ThreatModel(0.1, "inf"), objective="perturbed", box=box),
    "gr": lambda box: GradientNormRegularizer(ThreatModel(0.1, "inf")),
    "cure": lambda box: CurvatureRegularizer(h=0.5),
    "llr": lambda box: LocalLinearityRegularizer(ThreatModel(0.1, "inf"), box=box),
}


@pytest.mark.parametrize("name", REGULARIZERS)
def test_one_pass_update_equals_the_two_pass_update(small_digits, name):
    """Weights and running statistics after one reused-pass step equal those of the old two-pass step."""
    x, y, _, _ = small_digits
    x, y = x[:32].astype(np.float64), y[:32]
    reference, reused = bn_classifier(), bn_classifier()
    regularizer = REGULARIZERS[name](ClassifierView(reference).box)
    torch.manual_seed(1)
    two_pass_update(reference, regularizer, x, y)
    trainer = RegularizedTrainer(reused, regularizer)
    assert trainer.reuses_clean_pass
    torch.manual_seed(1)
    trainer.training_step(x, y)
    for (key, expected), actual in zip(reference.model.state_dict().items(), reused.model.state_dict().values(),
                                       strict=True):
        torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-11, msg=key)


def test_running_statistics_after_one_step_equal_standard_trainings(small_digits):
    x, y, _, _ = small_digits
    x, y = x[:32].astype(np.float64), y[:32]
    standard, sor = bn_classifier(), bn_classifier()
    StandardTrainer(standard).training_step(x, y)
    SORTrainer(sor, ThreatModel(0.1, "inf"), iterations=3).training_step(x, y)
    bn_standard, bn_sor = standard.model[1], sor.model[1]
    torch.testing.assert_close(bn_sor.running_mean, bn_standard.running_mean)
    torch.testing.assert_close(bn_sor.running_var, bn_standard.running_var)
    assert bn_sor.num_batches_tracked.item() == 1


def test_composite_batch_norm_updates_running_statistics_like_torch(small_digits):
    """Exact HVPs run batch norm as a composite; its first pass updates the statistics as torch's kernel does."""
    x, y, _, _ = small_digits
    x, y = x[:32].astype(np.float64), y[:32]
    standard, exact = bn_classifier(), bn_classifier()
    StandardTrainer(standard).training_step(x, y)
    SORTrainer(exact, ThreatModel(0.1, "inf"), hvp="exact").training_step(x, y)
    torch.testing.assert_close(exact.model[1].running_var, standard.model[1].running_var)
    torch.testing.assert_close(exact.model[1].running_mean, standard.model[1].running_mean)


def test_dropout_and_eval_mode_keep_a_separate_clean_pass():
    assert not SORTrainer(bn_classifier(dropout=0.5), ThreatModel(0.1, "inf")).reuses_clean_pass
    assert not SORTrainer(bn_classifier(), ThreatModel(0.1, "inf"),
                          step_settings=StepSettings(batch_norm="eval")).reuses_clean_pass
    assert SORTrainer(bn_classifier(dropout=0.0), ThreatModel(0.1, "inf")).reuses_clean_pass


@pytest.mark.parametrize("kwargs", [{}, {"hvp": "loss_difference", "h": 0.5}, {"hvp": "loss_difference"},
                                    {"objective": "perturbed", "iterations": 3, "step": "frank_wolfe"},
                                    {"iterations": 2, "random_start": True}, {"hvp": "exact", "iterations": 2}])
@pytest.mark.parametrize(("weight", "clean"), [(1.0, True), (0.3, False)])
def test_staged_backward_equals_the_penalty_graphs_gradient(tiny_problem, kwargs, weight, clean):
    model, x, y = tiny_problem
    loss_fn = per_sample_ce(model, y)
    parameters = list(model.parameters())
    regularizer = SecondOrderRegularizer(ThreatModel(0.3, "inf"), **kwargs)
    torch.manual_seed(0)
    penalty = regularizer(loss_fn, x)
    expected = torch.autograd.grad((penalty.clean_losses.mean() if clean else 0) + weight * penalty.value,
                                   parameters)
    torch.manual_seed(0)
    staged = regularizer.backpropagate(loss_fn, x, ParameterBackward(parameters), weight, clean)
    for parameter, grad in zip(parameters, expected, strict=True):
        torch.testing.assert_close(parameter.grad, grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(staged.value, penalty.value.detach(), rtol=1e-10, atol=1e-12)


def test_micro_batches_without_batch_norm_equal_the_whole_batch(small_digits):
    x, y, _, _ = small_digits
    x, y = x[:30], y[:30]
    whole, split = (make_classifier(digits_cnn(0).double(), (1, 8, 8), clip_values=(0.0, 1.0)) for _ in range(2))
    SORTrainer(whole, ThreatModel(0.1, "inf")).training_step(x.astype(np.float64), y)
    SORTrainer(split, ThreatModel(0.1, "inf"),
               step_settings=StepSettings(micro_batch_size=8)).training_step(x.astype(np.float64), y)
    for expected, actual in zip(whole.model.parameters(), split.model.parameters(), strict=True):
        torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-11)


def test_micro_batches_normalise_over_themselves(small_digits):
    x, y, _, _ = small_digits
    classifier = bn_classifier()
    trainer = SORTrainer(classifier, ThreatModel(0.1, "inf"), step_settings=StepSettings(micro_batch_size=8))
    trainer.training_step(x[:32].astype(np.float64), y[:32])
    assert classifier.model[1].num_batches_tracked.item() == 4
    assert trainer.config()["micro_batch_size"] == 8
    assert SORTrainer(bn_classifier(), ThreatModel(0.1, "inf")).config()["micro_batch_size"] is None


@pytest.mark.parametrize("layer", ["BatchNorm1d", "BatchNorm2d"])
def test_a_micro_batch_of_one_under_batch_norm_is_refused_before_training(small_digits, layer):
    # torch fails in the middle of an epoch ("Expected more than 1 value per channel") for BatchNorm1d, and
    # normalises each image over itself for BatchNorm2d: both are refused before the first step, naming the setting.
    x, y, _, _ = small_digits
    classifier = (bn_classifier() if layer == "BatchNorm2d" else make_classifier(
        nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10)), (1, 8, 8)))
    before = [p.detach().clone() for p in classifier.model.parameters()]
    for micro_batch_size, batch_size in ((1, 32), (5, 31), (3, 30)):  # of one: all, one per batch, the last
        trainer = SORTrainer(classifier, ThreatModel(0.1, "inf"),
                             step_settings=StepSettings(micro_batch_size=micro_batch_size))
        with pytest.raises(SettingError, match=f"micro_batch_size {micro_batch_size} leaves micro-batches of one "
                                               f"sample .*{layer}") as caught:
            trainer.fit(x[:64], y[:64], batch_size=batch_size, nb_epochs=1, verbose=False)
        assert caught.value.setting == "micro_batch_size" and trainer.history == []
    assert all(torch.equal(a, b) for a, b in zip(before, classifier.model.parameters(), strict=True))
    SORTrainer(classifier, ThreatModel(0.1, "inf"), step_settings=StepSettings(micro_batch_size=2)).check_batches(64,
                                                                                                                  32)


def test_loss_difference_at_h_one_is_the_perturbed_objective(tiny_problem):
    model, x, y = tiny_problem
    loss_fn = per_sample_ce(model, y)
    parameters = list(model.parameters())
    gradients = []
    for regularizer in (SecondOrderRegularizer(ThreatModel(0.3, "l2"), hvp="loss_difference"),
                        SecondOrderRegularizer(ThreatModel(0.3, "l2"), objective="perturbed")):
        gradients.append(torch.autograd.grad(regularizer(loss_fn, x).value, parameters))
    for a, b in zip(*gradients, strict=True):
        torch.testing.assert_close(a, b)


def test_n_fgsm_steps_from_wide_noise_without_projection(small_digits):
    x, y, _, _ = small_digits
    classifier = make_classifier(digits_cnn(), (1, 8, 8), clip_values=(0.0, 1.0))
    trainer = NFGSMTrainer(classifier, ThreatModel(0.1, "inf"))
    assert trainer.noise == pytest.approx(0.2) and trainer.step_size == pytest.approx(0.1)
    view = ClassifierView(classifier)
    batch, labels = torch.tensor(x[:64]), torch.tensor(y[:64])
    with view.perturbation_mode("batch"):
        delta = trainer.perturbation(view.loss_fn(labels), batch)
    assert delta.abs().max() <= 0.3 + 1e-6
    assert (delta.abs() > 0.1 + 1e-6).any()  # not projected onto the ε-ball
    assert ((batch + delta) >= 0).all() and ((batch + delta) <= 1 + 1e-6).all()
    history = trainer.fit(x, y, nb_epochs=3, batch_size=64, verbose=False)
    assert history[-1]["loss"] < history[0]["loss"]
    assert "n-fgsm" in DEFENCES.names()


def test_run_settings_reach_the_trainer_or_are_refused(digits_classifier):
    from art_sor.core.threat import ThreatModel

    threat = ThreatModel(0.1, "inf")
    settings = StepSettings(amp=True, micro_batch_size=16)
    trainer = DEFENCES.build("sor", digits_classifier, threat, settings)
    assert trainer.step_settings is settings and trainer.config()["micro_batch_size"] == 16
    with pytest.raises(RegistryError, match="does not support 'amp'"):
        DEFENCES.build("madry-pgd", digits_classifier, threat, settings)
    # A step setting is the run's, never a defence option: a second door would train the same model under another key.
    for spec in ("sor:amp=false", "sor:micro_batch_size=16", "pgd-at:batch_norm=eval"):
        with pytest.raises(RegistryError, match="takes no option"):
            DEFENCES.build(spec, digits_classifier, threat)


def test_step_settings_are_checked_once_and_stored_once(digits_classifier):
    from art_sor.runs.training_setup import TrainingSetup
    from art_sor.trainers.sor_memory import SORMemoryTrainer

    for field, value in (("amp", "no"), ("batch_norm", "train"), ("micro_batch_size", 0)):
        with pytest.raises(SettingError) as caught:
            StepSettings(**{field: value})
        assert caught.value.setting == field
    with pytest.raises(TypeError, match="step_settings must be a StepSettings"):
        StandardTrainer(digits_classifier, step_settings={"amp": True})
    # A setting a trainer cannot honour is refused by it, naming the setting; one with nothing to act on (batch norm
    # in extra passes that standard training does not make) is recorded as the default, so its key stays the same.
    for build, field in ((lambda: SORMemoryTrainer(digits_classifier, ThreatModel(0.1, "inf"),
                                                   step_settings=StepSettings(micro_batch_size=8)), "micro_batch_size"),
                         (lambda: SORTrainer(digits_classifier, ThreatModel(0.1, "inf"),
                                             step_settings=StepSettings(batch_norm="eval")), "batch_norm")):
        with pytest.raises(SettingError) as caught:
            build()
        assert caught.value.setting == field
    standard = StandardTrainer(digits_classifier, StepSettings(amp=True, batch_norm="eval"))
    assert standard.step_settings == StepSettings(amp=True)
    # The run key keeps them in the trainer's configuration alone, not a second time in the setup.
    settings = StepSettings(amp=True, micro_batch_size=16)
    identity = TrainingSetup(step_settings=settings).identity()
    assert not {"step_settings", "amp", "batch_norm", "micro_batch_size"} & set(identity)
    assert StandardTrainer(digits_classifier, settings).config()["amp"] is True


PROBE_MODULE = """
import json, os
import numpy as np
import torch
from torch import nn


class Probe(nn.Module):
    def __init__(self, input_shape, nb_classes):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), nb_classes))

    def forward(self, x):
        out = self.net(x)
        if torch.is_grad_enabled():
            with open(os.environ["PROBE_LOG"], "a") as f:
                f.write(str(out.dtype) + "\\n")
        return out


def probe(input_shape, nb_classes):
    return Probe(input_shape, nb_classes)
"""


@pytest.mark.parametrize("amp", [True, False])
def test_amp_from_the_cli_trains_in_mixed_precision_and_the_key_says_so(tmp_path, monkeypatch, amp):
    import json

    from click.testing import CliRunner

    from art_sor.cli import main

    (tmp_path / "amp_probe.py").write_text(PROBE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PROBE_LOG", str(tmp_path / "dtypes.txt"))
    args = ["train", "--defence", "sor", "--epochs", "1", "--train-samples", "64", "--batch-size", "32",
            "--eval-samples", "16", "--architecture", "amp_probe:probe", "--quiet", "--out",
            str(tmp_path / "run"), "--amp" if amp else "--no-amp"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    dtypes = set((tmp_path / "dtypes.txt").read_text().split())
    # Training computes in bfloat16 under --amp; evaluation's attacks always in float32.
    assert ("torch.bfloat16" in dtypes) == amp
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    text = json.dumps(report)
    assert '"amp": true' in text if amp else '"amp": true' not in text


def test_amp_with_a_defence_that_cannot_is_refused_before_training(tmp_path):
    from click.testing import CliRunner

    from art_sor.cli import main

    result = CliRunner().invoke(main, ["train", "--defence", "madry-pgd", "--amp", "--epochs", "1", "--out",
                                       str(tmp_path / "run")])
    assert result.exit_code != 0
    assert "--amp" in result.output and "does not support 'amp'" in result.output
    assert not any((tmp_path / "run").iterdir())


def test_a_non_finite_loss_is_still_reported_after_deferred_reads(small_digits):
    x, y, _, _ = small_digits
    classifier = make_classifier(digits_cnn(), (1, 8, 8), lr=1e30)
    with pytest.raises(FloatingPointError, match="the training loss became"):
        # 38 steps an epoch: the first read is after 25 of them.
        StandardTrainer(classifier).fit(x, y, nb_epochs=3, batch_size=8, verbose=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("spec", ["standard", "sor", "sor:hvp=loss_difference", "pgd-at", "n-fgsm"])
def test_training_steps_never_wait_for_the_device(small_digits, spec):
    """Statistics and the finiteness check stay on the GPU: torch's sync debug mode raises on any host sync."""
    from art_sor.classifiers.wrapping import wrap_model
    from art_sor.core.threat import ThreatModel

    x, y, _, _ = small_digits
    model = digits_cnn(batch_norm=True)
    classifier = wrap_model(model, (1, 8, 8), 10, optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                            device="cuda")
    trainer = DEFENCES.build(spec, classifier, ThreatModel(0.1, "inf"))
    batches = [(torch.tensor(x[i:i + 32], device="cuda"), torch.tensor(y[i:i + 32], device="cuda"))
               for i in range(0, 96, 32)]
    trainer.training_step(*batches[0])  # first step: lazy initialisation may synchronise
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for batch in batches[1:]:
            trainer.training_step(*batch)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    trainer.check_losses()
