"""Saliency against autograd, counterfactuals within ε, and the scores against hand computations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import TinyMLP, architecture_classifier, digits_cnn, make_classifier
from torch import nn

from art_sor.classifiers.checkpoints import save_classifier
from art_sor.classifiers.wrapping import wrap_model
from art_sor.cli import main
from art_sor.core.errors import SettingError
from art_sor.explain import (
    class_counterfactuals,
    correction_counterfactuals,
    counterfactual_target_rate,
    counterfactuals,
    gradient_alignment,
    input_gradient,
    object_change_fraction,
    smoothgrad,
)
from art_sor.explain.scores import alignment_scores, check_judge, other_class_targets


@pytest.fixture
def standardised_mlp():
    torch.manual_seed(0)
    model = TinyMLP(d_in=6, hidden=8, classes=4)
    classifier = wrap_model(model, (6,), 4, clip_values=None, preprocessing=(0.3, 0.7), device="cpu")
    return model, classifier


def test_saliency_matches_autograd_through_standardisation(standardised_mlp):
    model, classifier = standardised_mlp
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    target = np.array([0, 3, 1, 2, 0])
    xt = torch.tensor(x, requires_grad=True)
    logits = model((xt - 0.3) / 0.7)
    logits.gather(1, torch.tensor(target)[:, None]).sum().backward()
    np.testing.assert_allclose(input_gradient(classifier, x, target), xt.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_saliency_defaults_to_the_predicted_class(standardised_mlp):
    _, classifier = standardised_mlp
    x = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    predicted = classifier.predict(x).argmax(1)
    np.testing.assert_array_equal(input_gradient(classifier, x), input_gradient(classifier, x, predicted))


def test_smoothgrad_averages_noisy_gradients(standardised_mlp):
    _, classifier = standardised_mlp
    x = np.random.default_rng(2).normal(size=(3, 6)).astype(np.float32)
    target = np.array([1, 1, 2])
    noise = np.random.default_rng(7).normal(0.0, 0.2, size=(4, *x.shape))
    expected = np.mean([input_gradient(classifier, (x + n).astype(np.float32), target) for n in noise], axis=0)
    np.testing.assert_allclose(smoothgrad(classifier, x, target, samples=4, sigma=0.2, seed=7), expected, rtol=1e-5)
    assert not np.allclose(expected, input_gradient(classifier, x, target))


@pytest.fixture(scope="module")
def digits_model(digits):
    torch.manual_seed(0)
    classifier = architecture_classifier("small-cnn", (1, 8, 8), 10, lr=1e-2)
    classifier.fit(digits.x_train, digits.y_train, nb_epochs=15, batch_size=64, verbose=False)
    return classifier


@pytest.mark.parametrize("norm,eps", [("l2", 2.0), ("inf", 0.3)])
def test_counterfactuals_stay_within_eps_and_reach_their_target(digits_model, digits, norm, eps):
    x = digits.x_test[:10]
    targets = (digits.y_test[:10] + 3) % 10
    x_cf = counterfactuals(digits_model, x, targets, eps=eps, norm=norm, steps=60)
    diff = (x_cf - x).reshape(len(x), -1)
    size = np.abs(diff).max(1) if norm == "inf" else np.linalg.norm(diff, axis=1)
    assert size.max() <= eps * (1 + 1e-5)
    assert x_cf.min() >= 0.0 and x_cf.max() <= 1.0
    assert np.mean(digits_model.predict(x_cf).argmax(1) == targets) >= 0.9


def test_class_counterfactuals_cover_every_class(digits_model, digits):
    x = digits.x_test[:3]
    x_cf = class_counterfactuals(digits_model, x, eps=2.5, steps=40)
    assert x_cf.shape == (3, 10, 1, 8, 8)
    reached = digits_model.predict(x_cf.reshape(-1, 1, 8, 8)).argmax(1).reshape(3, 10)
    assert np.mean(reached == np.arange(10)[None]) >= 0.9


def test_corrections_only_for_mistakes(digits_model, digits):
    x, y = digits.x_test[:60], digits.y_test[:60]
    wrong_labels = (y + 1) % 10  # every input "misclassified" against these labels
    index, corrected = correction_counterfactuals(digits_model, x[:5], wrong_labels[:5], eps=2.5, steps=40)
    np.testing.assert_array_equal(index, np.arange(5))
    assert np.mean(digits_model.predict(corrected).argmax(1) == wrong_labels[:5]) >= 0.8
    predictions = digits_model.predict(x).argmax(1)
    index, _ = correction_counterfactuals(digits_model, x, y, eps=2.5, steps=5)
    np.testing.assert_array_equal(index, np.flatnonzero(predictions != y))


def test_gradient_alignment_by_hand():
    """A linear model f(x) = Wx has ∇f_y = W_y, so the score is |⟨x, W_y⟩| / (‖x‖‖W_y‖)."""
    linear = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]))
    classifier = wrap_model(nn.Sequential(linear), (3,), 2, clip_values=None, device="cpu")
    x = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 4.0], [1.0, 1.0, 0.0]], dtype=np.float32)
    y = np.array([0, 1, 1])
    expected = [1.0, 3.0 / (5.0 * np.sqrt(2.0)), 2.0 / (np.sqrt(2.0) * np.sqrt(2.0))]
    np.testing.assert_allclose(gradient_alignment(classifier, x, y), expected, rtol=1e-6)


def test_object_change_fraction_by_hand():
    x = np.zeros((2, 1, 2, 2), dtype=np.float32)
    x[:, 0, 0, 0] = 1.0  # the object is the top-left pixel
    changed = x.copy()
    changed[0, 0, 0, 0] -= 0.5
    changed[0, 0, 1, 1] += 0.5  # half the change on the object
    changed[1, 0, 0, 1] += 0.2  # all of it on the background
    np.testing.assert_allclose(object_change_fraction(x, changed), [0.5, 0.0])
    np.testing.assert_allclose(object_change_fraction(x, x), [0.0, 0.0])
    mask = np.ones((2, 2, 2), dtype=bool)
    np.testing.assert_allclose(object_change_fraction(x, changed, mask), [1.0, 1.0])


def test_target_rate_by_hand(standardised_mlp):
    _, judge = standardised_mlp
    x = np.random.default_rng(3).normal(size=(6, 6)).astype(np.float32)
    predicted = judge.predict(x).argmax(1)
    targets = predicted.copy()
    targets[:2] = (targets[:2] + 1) % 4
    assert counterfactual_target_rate(judge, x, targets) == pytest.approx(4 / 6)


def test_other_class_targets():
    samples, targets = other_class_targets(np.array([0, 2]), 3)
    np.testing.assert_array_equal(samples, [0, 0, 1, 1])
    np.testing.assert_array_equal(targets, [1, 2, 0, 1])


def test_alignment_scores_keys(digits_model, digits):
    scores = alignment_scores(digits_model, digits.x_test[:40], digits.y_test[:40], judge=digits_model,
                              counterfactual_samples=3, eps=2.0)
    assert set(scores) == {"alignment", "cf object share", "cf reach target", "cf judged target"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert scores["cf judged target"] == pytest.approx(scores["cf reach target"])


def test_explain_cli_writes_figures_and_scores(digits_model, tmp_path):
    path = save_classifier(tmp_path / "m.pt", digits_model, "small-cnn", metadata={"defence": "standard"})
    torch.manual_seed(0)
    judge = save_classifier(tmp_path / "judge.pt", architecture_classifier("small-cnn", (1, 8, 8), 10), "small-cnn")
    result = CliRunner().invoke(main, ["explain", str(path), "--image", "0", "--image", "5", "--steps", "10",
                                       "--score-samples", "20", "--counterfactual-samples", "2", "--judge",
                                       str(judge), "--out", str(tmp_path / "x"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "x" / "scores.json").read_text())
    assert scores["images"] == [0, 5] and "cf judged target" in scores["scores"] and scores["judged"]
    assert scores["model"] == "m"
    assert (tmp_path / "x" / "explanations.png").stat().st_size > 10_000


def test_explain_cli_refuses_a_bad_plan_naming_its_option(digits_model, tmp_path):
    path = save_classifier(tmp_path / "m.pt", digits_model, "small-cnn", metadata={"defence": "standard"})
    result = CliRunner().invoke(main, ["explain", str(path), "--image", "9999", "--device", "cpu"])
    assert result.exit_code == 2 and "Invalid value for --image: digits has 450 test images (indices 0 to 449)" \
        in result.output
    result = CliRunner().invoke(main, ["explain", str(path), "--norm", "l1", "--device", "cpu"])
    assert result.exit_code == 2 and "--eps: there is no default counterfactual budget for L1" in result.output
    assert not (tmp_path / "art-sor-runs").exists()


def test_explain_steps_reach_every_counterfactual_including_the_scores(digits_model, tmp_path, monkeypatch):
    """``--steps`` is recorded in scores.json, so it must drive the scored counterfactuals too, not only the figures."""
    import importlib

    counterfactual_module = importlib.import_module("art_sor.explain.counterfactuals")
    used = []
    original = counterfactual_module.counterfactuals

    def recording(*args, **kwargs):
        used.append(kwargs.get("steps"))
        return original(*args, **kwargs)

    monkeypatch.setattr(counterfactual_module, "counterfactuals", recording)
    monkeypatch.setattr("art_sor.explain.scores.counterfactuals", recording)
    path = save_classifier(tmp_path / "m.pt", digits_model, "small-cnn", metadata={"defence": "standard"})
    result = CliRunner().invoke(main, ["explain", str(path), "--image", "0", "--steps", "7", "--score-samples", "10",
                                       "--counterfactual-samples", "2", "--out", str(tmp_path / "x"), "--device",
                                       "cpu"])
    assert result.exit_code == 0, result.output
    assert used and set(used) == {7}
    assert json.loads((tmp_path / "x" / "scores.json").read_text())["steps"] == 7


def test_signed_maps_have_colour_scales(monkeypatch, tmp_path):
    from art_sor.explain import figures

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: drawn.append(fig) or path)
    rng = np.random.default_rng(0)
    x = rng.random((2, 1, 8, 8))
    counterfactuals = rng.random((2, 3, 1, 8, 8))
    figures.explanation_grid(x, np.array([0, 1]), np.array([0, 2]), x - 0.5, counterfactuals,
                             np.array([[0, 1, 2], [0, 1, 1]]), ("a", "b", "c"), "m: L2 ε = 2", tmp_path / "e.png")
    figures.correction_grid(x[1:], np.array([1]), np.array([2]), counterfactuals[1:, 1], np.array([1]),
                            ("a", "b", "c"), "m: what would correct these mistakes (L2 ε = 2)", tmp_path / "c.png")
    grid, corrections = drawn
    # Two per input (SmoothGrad, differences) and one per corrected input, each symmetric about 0.
    bars = [inset._colorbar for ax in grid.axes + corrections.axes for inset in ax.child_axes
            if hasattr(inset, "_colorbar")]
    assert len(bars) == 5
    assert all(bar.vmin == -bar.vmax and bar.vmax > 0 for bar in bars)
    assert "ε\u00a0=\u00a02" in corrections._suptitle.get_text()  # never broken between ε and its value


def test_explanation_refuses_a_model_whose_outputs_are_not_finite(tmp_path, digits):
    from art_sor.explain.full_explanation import explain_classifier
    from art_sor.explain.plan import ExplanationPlan

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    model[1].weight.data[0, 0] = float("inf")
    classifier = wrap_model(model, (1, 8, 8), 10, device="cpu")
    x = digits.x_test[:3].copy()
    x[:, 0, 0, 0] = 0.5  # the infinite weight reads this pixel
    with pytest.raises(ValueError, match="NaN or inf logits"):
        explain_classifier(classifier, x, digits.y_test[:3], tuple("0123456789"), tmp_path, ExplanationPlan(name="nan"))
    assert not list(tmp_path.iterdir())


def test_explain_classifier_shows_the_plans_images_and_scores_its_leading_samples(digits_model, digits, tmp_path,
                                                                                 monkeypatch):
    from art_sor.explain import full_explanation
    from art_sor.explain.full_explanation import explain_classifier
    from art_sor.explain.plan import ExplanationPlan

    scored = []
    original = full_explanation.alignment_scores
    monkeypatch.setattr(full_explanation, "alignment_scores",
                        lambda classifier, x, y, *args, **kwargs: scored.append((x, y)) or original(
                            classifier, x, y, *args, **kwargs))
    plan = ExplanationPlan(images=(4, 1), eps=1.5, steps=2, score_samples=6, counterfactual_samples=1)
    explanation = explain_classifier(digits_model, digits.x_test, digits.y_test, tuple("0123456789"), tmp_path, plan)
    assert explanation.images == [4, 1] and explanation.eps == 1.5 and explanation.steps == 2
    assert explanation.model == type(digits_model.model).__name__  # the plan names none
    np.testing.assert_array_equal(scored[0][0], digits.x_test[:6])
    with pytest.raises(SettingError) as caught:
        explain_classifier(digits_model, digits.x_test[:3], digits.y_test[:3], tuple("0123456789"), tmp_path,
                           ExplanationPlan(images=(3,)))
    assert caught.value.setting == "images"
    with pytest.raises(SettingError) as caught:
        explain_classifier(digits_model, digits.x_test, digits.y_test, tuple("0123456789"), tmp_path, {"steps": 2})
    assert caught.value.setting == "plan"


def test_a_failed_correction_is_not_titled_corrected():
    from art_sor.explain.figures import correction_title

    names = ("zero", "one", "two")
    assert correction_title(1, 1, names) == ("corrected\npred one", "black")
    assert correction_title(1, 2, names) == ("not corrected\npred two", "#8c8c8c")


def test_a_judge_of_other_classes_or_shape_is_refused():
    judge = make_classifier(digits_cnn(), (1, 8, 8), nb_classes=10)
    check_judge(judge, (1, 8, 8), 10)
    with pytest.raises(ValueError, match="the judge has 10 classes, but the model and data have 3"):
        check_judge(judge, (1, 8, 8), 3)
    with pytest.raises(ValueError, match=r"the judge takes inputs of shape \(1, 8, 8\).*\(3, 8, 8\)"):
        check_judge(judge, (3, 8, 8), 10)
