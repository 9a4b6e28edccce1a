"""The training setup: optimizers and schedules built as named."""

from __future__ import annotations

import pytest
from torch import nn

from art_sor.runs.setup import OptimizerSettings, ScheduleSettings


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
