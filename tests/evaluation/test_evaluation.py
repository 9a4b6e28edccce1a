"""Robustness evaluation with real ART attacks on small models, and the obfuscation diagnostics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import make_classifier, reference_grad_and_hessian
from torch import nn

from art_sor.classifiers.wrapping import wrap_model
from art_sor.cli import main
from art_sor.core.threat import ThreatModel
from art_sor.evaluation import (
    EvaluationPlan,
    evaluate_attacks,
    evaluate_classifier,
    geometry_metrics,
    gradient_check,
    obfuscation_checks,
    prepare_attack,
    security_curve,
)
from art_sor.evaluation.diagnostics import ENSEMBLE_CHECK
from art_sor.evaluation.randomness import seeded
from art_sor.evaluation.robustness import perturbation_norms
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup

LINF = ThreatModel(0.2, "inf")


def by_label(result, label):
    return next(r for r in result.attacks if r.label == label)


@pytest.fixture(scope="module")
def trained_runs(digits, tmp_path_factory):
    """A standard and an SOR model on digits, trained (and saved) once for the whole module."""
    setup = TrainingSetup(epochs=25, batch_size=64, device="cpu")
    folder = tmp_path_factory.mktemp("runs")
    return {method: train_defence(method, digits, LINF, setup, folder / method, verbose=False)
            for method in ("standard", "sor")}


@pytest.fixture(scope="module")
def trained(trained_runs):
    return {method: run.classifier for method, run in trained_runs.items()}


class Quantised(nn.Module):
    """Obfuscated on purpose: rounds its input to 4 levels, so the gradient through it is zero everywhere."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 3) / 3)


class Saturated(nn.Module):
    """Obfuscated on purpose: logits scaled by 1e4 saturate the softmax, so cross-entropy gradients vanish."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1e4 * self.inner(x)


def _evaluation_classifier(model: nn.Module) -> object:
    return wrap_model(model, (1, 8, 8), 10, clip_values=(0.0, 1.0), device="cpu")


ATTACKS = ["fgsm", "pgd", "pgd:steps=40,restarts=2", "apgd-ce:steps=30", "square:queries=300"]


@pytest.mark.slow
def test_standard_model_is_not_robust_and_passes_checks(trained, digits):
    plan = EvaluationPlan(LINF, attacks=ATTACKS, curve_points=5, curve_samples=60, geometry=False)
    report = evaluate_classifier(trained["standard"], digits.x_test[:150], digits.y_test[:150], plan, verbose=False)
    r = report.robustness
    assert r.clean_accuracy > 0.9
    assert r.worst_case_accuracy() < 0.1
    assert r.worst_case_accuracy() <= min(a.accuracy for a in r.attacks if a.samples == len(r.clean))
    assert not report.obfuscation_suspected, [c for c in report.checks if c.passed is False]


@pytest.mark.slow
def test_honest_robust_model_is_not_flagged(trained, digits):
    plan = EvaluationPlan(LINF, attacks=ATTACKS, curve_points=5, curve_samples=60, geometry=False)
    report = evaluate_classifier(trained["sor"], digits.x_test[:150], digits.y_test[:150], plan, verbose=False)
    assert report.robustness.worst_case_accuracy() > 0.15
    failed = [c.to_dict() for c in report.checks if c.passed is False]
    assert failed == []
    # Every check runs but the ensemble gap, which needs an ensemble (AutoAttack) these attacks do not include.
    unrun = [c.name for c in report.checks if c.passed is None]
    assert unrun == [ENSEMBLE_CHECK], unrun


@pytest.mark.slow
@pytest.mark.parametrize("wrapper", [Quantised, Saturated])
def test_obfuscated_models_are_caught(trained, digits, wrapper):
    model = wrapper(trained["standard"].model)
    classifier = _evaluation_classifier(model)
    plan = EvaluationPlan(LINF, attacks=ATTACKS, curve_points=5, curve_samples=60, geometry=False)
    report = evaluate_classifier(classifier, digits.x_test[:150], digits.y_test[:150], plan, verbose=False)
    failed = {c.name for c in report.checks if c.passed is False}
    assert report.obfuscation_suspected
    assert "white-box attacks do at least as well as black-box Square" in failed or \
        "gradients are finite and non-zero" in failed, failed
    # Square, which needs no gradient, still breaks what the gradient attacks cannot.
    square = by_label(report.robustness, "Square-300")
    pgd = by_label(report.robustness, "PGD-20")
    assert square.accuracy < pgd.accuracy


@pytest.mark.slow
def test_worst_case_is_per_sample(trained, digits):
    result = evaluate_attacks(trained["sor"], digits.x_test[:100], digits.y_test[:100], LINF,
                              ["fgsm", "pgd"], verbose=False)
    expected = result.clean & result.attacks[0].robust & result.attacks[1].robust
    np.testing.assert_array_equal(result.worst_case(), expected)
    assert result.worst_case_accuracy() <= min(a.accuracy for a in result.attacks)


@pytest.mark.slow
def test_attacks_are_repeatable(trained, digits):
    runs = []
    for noise_seed in (1, 2):  # whatever the caller's random streams, the attacks draw the same numbers
        np.random.seed(noise_seed)
        torch.manual_seed(noise_seed)
        runs.append(evaluate_attacks(trained["sor"], digits.x_test[:100], digits.y_test[:100], LINF,
                                     ["pgd:steps=5", "square:queries=50"], verbose=False))
    for first, second in zip(runs[0].attacks, runs[1].attacks, strict=True):
        np.testing.assert_array_equal(first.robust, second.robust)


def test_seeding_restores_the_callers_random_streams():
    np.random.seed(7)
    torch.manual_seed(7)
    expected = np.random.rand(), torch.rand(1)
    np.random.seed(7)
    torch.manual_seed(7)
    with seeded():
        inside = np.random.rand(), torch.rand(1)
    assert np.random.rand() == expected[0] and torch.equal(torch.rand(1), expected[1])
    with seeded():
        assert (np.random.rand(), torch.rand(1)) == inside


@pytest.mark.slow
def test_adversarial_examples_stay_in_the_threat_model(trained, digits):
    attack = prepare_attack("pgd", trained["sor"], LINF).attack
    x = digits.x_test[:50]
    x_adv = attack.generate(x.copy(), y=digits.y_test[:50])
    assert perturbation_norms(x, x_adv, "inf").max() <= 0.2 + 1e-6
    assert perturbation_norms(x, x_adv, "l2").max() > 0


@pytest.mark.slow
def test_minimal_attacks_count_only_breaks_inside_the_ball(trained, digits):
    small = evaluate_attacks(trained["standard"], digits.x_test[:30], digits.y_test[:30], ThreatModel(0.01, "l2"),
                             ["deepfool:subset=30"], verbose=False)
    large = evaluate_attacks(trained["standard"], digits.x_test[:30], digits.y_test[:30], ThreatModel(3.0, "l2"),
                             ["deepfool:subset=30"], verbose=False)
    assert small.attacks[0].accuracy > large.attacks[0].accuracy


@pytest.mark.slow
def test_security_curve_falls_to_chance(trained, digits):
    curve = security_curve(trained["sor"], digits.x_test[:80], digits.y_test[:80], ThreatModel(0.25, "inf"),
                           attack="pgd", points=5, verbose=False)
    assert curve.eps == pytest.approx([0, 0.125, 0.25, 0.375, 0.5])  # the threat's radius is one of the points
    assert curve.accuracy[0] > 0.8 and curve.accuracy[-1] <= curve.chance
    assert all(b <= a + 0.02 for a, b in zip(curve.accuracy, curve.accuracy[1:], strict=False))


@pytest.mark.slow
def test_gradient_check_flags_saturated_softmax(trained, digits):
    healthy = gradient_check(trained["standard"], digits.x_test[:40], digits.y_test[:40])
    saturated = gradient_check(_evaluation_classifier(Saturated(trained["standard"].model)), digits.x_test[:40],
                               digits.y_test[:40])
    assert healthy.passed and not saturated.passed
    assert saturated.values["zero"] > 0.5


def test_geometry_matches_autograd_on_a_tiny_model(tiny_problem):
    model, x, y = tiny_problem
    classifier = wrap_model(model, (5,), 3, clip_values=None, device="cpu")
    geometry = geometry_metrics(classifier, x.numpy(), y.numpy(), ThreatModel(0.1, "inf"), power_iterations=200)
    g, h = reference_grad_and_hessian(model, x, y)
    top = torch.linalg.eigvalsh(h)
    largest = torch.where(top[:, -1].abs() >= top[:, 0].abs(), top[:, -1], top[:, 0])
    assert geometry.gradient_norm == pytest.approx(g.norm(dim=1).mean().item(), rel=1e-6)
    assert geometry.gradient_dual_norm == pytest.approx(g.abs().sum(1).mean().item(), rel=1e-6)
    assert geometry.hessian_eigenvalue == pytest.approx(largest.mean().item(), rel=1e-3)
    assert geometry.linearity_gap > 0


@pytest.mark.slow
def test_sor_lowers_curvature_against_standard(trained, digits):
    standard = geometry_metrics(trained["standard"], digits.x_test[:100], digits.y_test[:100], LINF)
    sor = geometry_metrics(trained["sor"], digits.x_test[:100], digits.y_test[:100], LINF)
    assert sor.gradient_norm < standard.gradient_norm
    assert sor.linearity_gap < standard.linearity_gap


@pytest.mark.slow
def test_unknown_attack_and_option_are_named(trained):
    with pytest.raises(ValueError, match="unknown attack 'bim'"):
        prepare_attack("bim", trained["sor"], LINF)
    with pytest.raises(ValueError, match="colour"):
        prepare_attack("pgd:colour=1", trained["sor"], LINF)


@pytest.mark.slow
def test_checks_without_their_attacks_say_not_run(trained, digits):
    result = evaluate_attacks(trained["sor"], digits.x_test[:20], digits.y_test[:20], LINF, ["pgd"],
                              verbose=False)
    assert all(check.passed is None for check in obfuscation_checks(result))


@pytest.mark.slow
def test_evaluate_cli_writes_reports(trained_runs, tmp_path):
    path = trained_runs["sor"].path
    result = CliRunner().invoke(main, ["evaluate", str(path), "--eval-samples", "60", "--attack", "fgsm", "--attack",
                                       "pgd", "--attack", "square:queries=100", "--no-geometry", "--quiet",
                                       "--out", str(tmp_path / "report"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    robustness = report["evaluation"]["robustness"]
    assert robustness["threat"] == {"eps": 0.2, "norm": "inf"} and len(robustness["attacks"]) == 3
    assert report["trained"]["defence"]["spec"] == "sor"
    for name in ("report.md", "attacks.png", "security_curve.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    assert "worst case over all full-set attacks" in result.output


@pytest.mark.slow
def test_evaluate_cli_accepts_a_bare_state_dict(trained, tmp_path):
    torch.save(trained["standard"].model.state_dict(), tmp_path / "weights.pt")
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "weights.pt"), "--architecture", "small-cnn",
                                       "--eps", "1/10", "--eval-samples", "30", "--attack", "pgd", "--no-curve",
                                       "--no-geometry", "--quiet", "--out", str(tmp_path / "r"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["evaluation"]["robustness"]["threat"]["eps"] == pytest.approx(0.1)
    assert len(report["evaluation"]["robustness"]["clean"]) == 30
    wrong = CliRunner().invoke(main, ["evaluate", str(tmp_path / "weights.pt"), "--quiet"])
    assert wrong.exit_code != 0 and "architecture" in wrong.output


@pytest.mark.slow
def test_evaluation_needs_no_optimizer_and_does_not_touch_inputs(trained, digits):
    model = trained["sor"].model
    classifier = make_classifier(model, (1, 8, 8), clip_values=(0.0, 1.0))
    x = digits.x_test[:30].copy()
    before = x.copy()
    evaluate_attacks(classifier, x, digits.y_test[:30], LINF, ["pgd"], verbose=False)
    np.testing.assert_array_equal(x, before)


@pytest.mark.slow
def test_sor_beats_standard_training_under_pgd(trained, digits):
    """The module's 25-epoch digits runs: SOR must clearly beat standard training under ART's PGD."""
    results = {}
    for method, classifier in trained.items():
        pgd = evaluate_attacks(classifier, digits.x_test, digits.y_test, LINF, ["pgd"], verbose=False)
        results[method] = (float(np.mean(classifier.predict(digits.x_test).argmax(1) == digits.y_test)),
                           pgd.attacks[0].accuracy)
    (standard_clean, standard_pgd), (sor_clean, sor_pgd) = results["standard"], results["sor"]
    assert standard_clean > 0.95 and sor_clean > 0.85
    assert standard_pgd < 0.10
    assert sor_pgd > standard_pgd + 0.15, results


@pytest.mark.slow
def test_evaluate_folders_belong_to_one_model_dataset_and_plan(trained_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fast = ["--eval-samples", "20", "--attack", "fgsm", "--no-curve", "--no-geometry", "--quiet", "--device", "cpu"]
    standard, sor = trained_runs["standard"].path, trained_runs["sor"].path
    for path in (standard, sor):
        assert CliRunner().invoke(main, ["evaluate", str(path), *fast]).exit_code == 0
    folders = sorted(p.name for p in (tmp_path / "art-sor-runs").iterdir())
    assert len(folders) == 2 and all(name.startswith("evaluate-") for name in folders)  # one per checkpoint
    shared = ["--out", str(tmp_path / "shared")]
    assert CliRunner().invoke(main, ["evaluate", str(standard), *fast, *shared]).exit_code == 0
    other_model = CliRunner().invoke(main, ["evaluate", str(sor), *fast, *shared])
    assert other_model.exit_code == 1 and "holds the results of another job: model" in other_model.output
    other_eps = CliRunner().invoke(main, ["evaluate", str(standard), *fast, *shared, "--eps", "0.1"])
    assert other_eps.exit_code == 1 and "plan.threat.eps" in other_eps.output
    replaced = CliRunner().invoke(main, ["evaluate", str(sor), *fast, *shared, "--overwrite"])
    assert replaced.exit_code == 0
    report = json.loads((tmp_path / "shared" / "report.json").read_text())
    assert report["trained"]["defence"]["spec"] == "sor"


def test_radii_print_as_people_write_them():
    from art_sor.core.threat import format_radius

    assert [format_radius(e) for e in (8 / 255, 2 / 255, 1 / 3, 0.2, 0.1, 0.5, 2.0, 0.0)] == [
        "8/255", "2/255", "1/3", "0.2", "0.1", "0.5", "2", "0"]
    assert ThreatModel(8 / 255, "inf").label == "L∞ ε = 8/255"


def test_the_security_curve_has_a_point_at_the_evaluated_eps(digits):
    classifier = make_classifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), (1, 8, 8), clip_values=(0.0, 1.0))
    threat = ThreatModel(8 / 255, "inf")
    report = evaluate_classifier(classifier, digits.x_test[:20], digits.y_test[:20],
                                 EvaluationPlan(threat, attacks=["fgsm"], curve_points=3, geometry=False),
                                 verbose=False)
    assert report.curve.eps == [0.0, 8 / 255, 0.25, 0.5]


def test_the_security_curve_takes_the_threat_model_whole(digits, monkeypatch):
    from art_sor.core.errors import SettingTypeError
    from art_sor.evaluation import curves

    classifier = make_classifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), (1, 8, 8), clip_values=(0.0, 1.0))
    threat = ThreatModel(0.3, "l2")
    balls = []
    original = curves.evaluate_attacks
    monkeypatch.setattr(curves, "evaluate_attacks",
                        lambda classifier, x, y, ball, *args, **kwargs: balls.append(ball) or original(
                            classifier, x, y, ball, *args, **kwargs))
    curve = security_curve(classifier, digits.x_test[:10], digits.y_test[:10], threat, attack="fgsm",
                           eps_values=[0.0, 1.0], verbose=False)
    assert curve.norm == "l2" and curve.eps == [0.0, 0.3, 1.0] and len(curve.accuracy) == 3
    assert balls[0] is threat and balls[1] == ThreatModel(1.0, "l2")  # its own radius, then one per other point
    with pytest.raises(SettingTypeError, match="threat must be a ThreatModel"):
        security_curve(classifier, digits.x_test[:10], digits.y_test[:10], "l2", verbose=False)


def test_evaluation_refuses_a_model_whose_outputs_are_not_finite(digits):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    model[1].bias.data[3] = float("nan")
    classifier = wrap_model(model, (1, 8, 8), 10, device="cpu")
    x, y = digits.x_test[:20], digits.y_test[:20]
    with pytest.raises(ValueError, match="NaN or inf logits for 20 of the 20 inputs"):
        evaluate_classifier(classifier, x, y, EvaluationPlan(ThreatModel(0.1, "inf"), attacks=["fgsm"], curve=False,
                                                             geometry=False), verbose=False)


def test_evaluation_names_float64_inputs(digits):
    classifier = wrap_model(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), (1, 8, 8), 10, device="cpu")
    with pytest.raises(TypeError, match="x is float64 but the model's parameters are float32"):
        evaluate_attacks(classifier, digits.x_test[:4].astype(np.float64), digits.y_test[:4],
                         ThreatModel(0.1, "inf"), ["fgsm"], verbose=False)


def test_evaluation_refuses_a_radius_that_covers_the_data_box(tmp_path, digits):
    classifier = wrap_model(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), (1, 8, 8), 10, device="cpu")
    with pytest.raises(ValueError, match="eps=8/255"):
        evaluate_classifier(classifier, digits.x_test[:4], digits.y_test[:4],
                            EvaluationPlan(ThreatModel(8, "inf"), attacks=["fgsm"], curve=False, geometry=False),
                            verbose=False)
    train = CliRunner().invoke(main, ["train", "--eps", "8", "--epochs", "1", "--quiet", "--device", "cpu",
                                      "--out", str(tmp_path / "train")])
    assert train.exit_code == 2 and "Invalid value for --eps" in train.output and "8/255" in train.output
    assert not (tmp_path / "train" / "report.json").exists()


def test_evaluate_flags_an_ensemble_far_below_pgd_allowing_for_the_sampling_error():
    from art_sor.evaluation.diagnostics import ENSEMBLE_CHECK, obfuscation_checks
    from art_sor.evaluation.full_evaluation import FullEvaluation
    from art_sor.evaluation.robustness import AttackResult, RobustnessResult

    def result(n: int, pgd: float, ensemble: float) -> RobustnessResult:
        def robust(accuracy: float) -> np.ndarray:
            return np.arange(n) < round(accuracy * n)

        return RobustnessResult(ThreatModel(3.0, "l1"), np.ones(n, dtype=bool), [
            AttackResult("PGD-20", "pgd", "pgd", robust(pgd)),
            AttackResult("AutoAttack (standard, Croce–Hein)", "autoattack-standard", "autoattack-standard",
                         robust(ensemble), ensemble=True)])

    def verdict(robustness: RobustnessResult) -> bool | None:
        evaluation = FullEvaluation(robustness, checks=obfuscation_checks(robustness))
        check = next(c for c in evaluation.checks if c.name == ENSEMBLE_CHECK)
        assert evaluation.obfuscation_suspected is (check.passed is False)
        return check.passed

    assert verdict(result(30, 0.6, 0.267)) is False  # the L1 standard model
    assert verdict(result(100, 0.5, 0.46)) is True  # honest PGD-AT: 4 points on 100 images is noise
    assert verdict(result(1000, 0.5, 0.44)) is False  # 6 points on 1000 images is not


def test_canonical_autoattack_notes_name_what_the_version_ran():
    from art_sor.evaluation.full_evaluation import FullEvaluation
    from art_sor.evaluation.robustness import AttackResult, RobustnessResult
    from art_sor.runs.evaluation_report import attack_notes

    def notes(spec: str, norm: str) -> str:
        attack = AttackResult("AutoAttack", spec, "autoattack-standard", np.ones(4, dtype=bool), ensemble=True)
        result = RobustnessResult(ThreatModel(0.5, norm), np.ones(4, dtype=bool), [attack])
        return " ".join(attack_notes(FullEvaluation(result)))

    assert "plus version" in notes("autoattack-standard:version=plus", "inf")
    assert "APGD-DLR" in notes("autoattack-standard:version=plus", "inf")
    assert "APGD-DLR" not in notes("autoattack-standard", "inf")
    assert "L1-APGD-CE (5 restarts)" in notes("autoattack-standard", "l1")


def test_a_cached_or_resumed_evaluation_says_what_it_reused(digits_classifier, digits, tmp_path):
    from art_sor.runs.evaluating import evaluate_model
    from art_sor.storage import read_checked_json, write_checked_json

    plan = EvaluationPlan(ThreatModel(0.2, "inf"), attacks=("fgsm", "pgd:steps=2"), samples=20, curve=False,
                          geometry=False)
    cache, said = tmp_path / "evaluation.json", []
    evaluate_model(digits_classifier, digits, plan, {"model": "m"}, cache, verbose=False, announce=said.append)
    assert said == []  # nothing was cached
    evaluate_model(digits_classifier, digits, plan, {"model": "m"}, cache, verbose=False, announce=said.append)
    assert said == [f"reusing the finished evaluation in {cache} (same model and settings): no attack runs again"]
    stored = read_checked_json(cache)  # as if interrupted after the first attack
    stored["complete"] = False
    del stored["result"]["evaluation"]["robustness"]["attacks"][1:]
    write_checked_json(cache, stored)
    said.clear()
    evaluate_model(digits_classifier, digits, plan, {"model": "m"}, cache, verbose=False, announce=said.append)
    assert said == [f"resuming the interrupted evaluation in {cache}: reusing FGSM; running the rest"]
