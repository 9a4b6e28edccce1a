"""The training setup: optimizers and schedules built and stepped as named, settings without effect refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from art_sor.core.threat import ThreatModel
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import OptimizerSettings, ScheduleSettings, TrainingSetup


@pytest.mark.parametrize("optimizer, name", [("sgd", "momentum"), ("adam", "betas")])
def test_onecycle_cycles_only_the_learning_rate(optimizer, name):
    model = nn.Linear(2, 2)
    held = {"momentum": 0.0} if optimizer == "sgd" else {}  # adam takes no momentum setting
    built = OptimizerSettings(optimizer, lr=0.1, **held).build(model.parameters())
    before = built.param_groups[0][name]
    scheduler, interval = ScheduleSettings("onecycle").build(built, epochs=2, batches_per_epoch=3)
    rates = []
    for _ in range(5):
        built.step()
        scheduler.step()
        rates.append(built.param_groups[0]["lr"])
        assert built.param_groups[0][name] == before
    assert interval == "batch" and len(set(rates)) > 1


@pytest.mark.parametrize("schedule,expected", [
    (ScheduleSettings("constant"), [0.1, 0.1, 0.1, 0.1]),
    (ScheduleSettings("cosine"), [0.1, 0.1 * (1 + np.cos(np.pi / 4)) / 2, 0.05, 0.1 * (1 + np.cos(3 * np.pi / 4)) / 2]),
    (ScheduleSettings("multistep", milestones=(1, 3), gamma=0.5), [0.1, 0.05, 0.05, 0.025]),
])
def test_sgd_with_each_epoch_schedule(digits, schedule, expected):
    setup = TrainingSetup(epochs=4, batch_size=128, optimizer=OptimizerSettings("sgd", 0.1, weight_decay=5e-4),
                          schedule=schedule, train_samples=256, device="cpu")
    history = train_defence("standard", digits, ThreatModel(0.1, "inf"), setup, verbose=False).history
    assert [r["learning_rate"] for r in history] == pytest.approx(expected)


def test_onecycle_steps_every_batch(digits):
    setup = TrainingSetup(epochs=2, batch_size=64, optimizer=OptimizerSettings("sgd", 0.2, nesterov=True),
                          schedule=ScheduleSettings("onecycle"), train_samples=256, device="cpu")
    trained = train_defence("standard", digits, ThreatModel(0.1, "inf"), setup, verbose=False)
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=0.2, epochs=2, steps_per_epoch=4)
    expected = [reference.param_groups[0]["lr"]]
    for _ in range(4):  # one step per batch: the second epoch starts four steps in
        reference.step()
        schedule.step()
    expected.append(reference.param_groups[0]["lr"])
    assert [r["learning_rate"] for r in trained.history] == pytest.approx(expected)
    assert expected[0] == pytest.approx(0.2 / 25)


def test_setup_errors_name_the_setting():
    with pytest.raises(ValueError, match="lr"):
        OptimizerSettings("sgd", 0.0)
    with pytest.raises(ValueError, match="nesterov"):
        OptimizerSettings("adam", 0.1, nesterov=True)
    with pytest.raises(ValueError, match="milestones"):
        ScheduleSettings("multistep")
    with pytest.raises(ValueError, match="milestones must increase"):
        ScheduleSettings("multistep", milestones=(5, 3))
    with pytest.raises(ValueError, match="optimizer"):
        OptimizerSettings("rmsprop")


def test_setup_settings_without_effect_are_refused():
    with pytest.raises(ValueError, match=r"momentum 0\.5 has no effect with the adam optimizer"):
        OptimizerSettings("adam", 0.1, momentum=0.5)
    for kwargs, name in [({"milestones": (3,)}, "milestones"), ({"gamma": 0.5}, "gamma")]:
        for schedule in ("constant", "cosine", "onecycle"):
            with pytest.raises(ValueError, match=f"^{name} .* has no effect with the {schedule} schedule"):
                ScheduleSettings(schedule, **kwargs)
    assert ScheduleSettings("multistep", (3,), 0.5).gamma == 0.5
