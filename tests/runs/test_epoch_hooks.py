"""Per-epoch hooks: the robustness monitor and best-robust selection attack with the norm's quick attack."""

from __future__ import annotations

from art_sor.core.threat import ThreatModel


def test_the_monitor_and_best_robust_selection_use_l1_apgd_in_l1(digits, monkeypatch, tmp_path):
    from types import SimpleNamespace

    from art_sor.evaluation.plan import EvaluationPlan
    from art_sor.runs import epoch_hooks
    from art_sor.runs.plans import ComparisonPlan
    from art_sor.runs.training_setup import TrainingSetup

    l1, linf = ThreatModel(3.0, "l1"), ThreatModel(0.2, "inf")
    x, y = digits.x_test[:4], digits.y_test[:4]
    assert epoch_hooks.RobustnessMonitor(x, y, l1).attack == "apgd-ce:steps=10"
    assert epoch_hooks.RobustnessMonitor(x, y, linf).attack == "pgd:steps=10"
    plan = ComparisonPlan(TrainingSetup(), EvaluationPlan(l1, attacks=("fgsm",)))
    assert plan.monitor_attack == "apgd-ce:steps=10"
    ran = []

    def recording(classifier, x, y, threat, attacks, **kwargs):
        ran.extend(attacks)
        return SimpleNamespace(attacks=[SimpleNamespace(accuracy=0.5)])

    monkeypatch.setattr(epoch_hooks, "evaluate_attacks", recording)
    model = SimpleNamespace(train=lambda: None, state_dict=lambda: {})
    trainer = SimpleNamespace(parallel=SimpleNamespace(leader=True),
                              get_classifier=lambda: SimpleNamespace(model=model))
    epoch_hooks.BestRobustSelection(x, y, l1, None, {})(trainer, {"epoch": 1})
    assert ran == ["apgd-ce:steps=10"]
