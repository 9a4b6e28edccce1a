"""The commands that run a job read their options as typed fields, one per option and no other."""

from __future__ import annotations

from dataclasses import fields

import pytest

from art_sor.cli.compare import compare
from art_sor.cli.evaluate import evaluate
from art_sor.cli.explain import explain
from art_sor.cli.options import CompareOptions, EvaluateOptions, ExplainOptions, TrainOptions
from art_sor.cli.train import train


@pytest.mark.parametrize(("command", "kind"), [(train, TrainOptions), (compare, CompareOptions),
                                               (evaluate, EvaluateOptions), (explain, ExplainOptions)])
def test_each_option_is_one_field(command, kind):
    assert {param.name for param in command.params} == {field.name for field in fields(kind)}


def test_options_without_their_fields_are_refused():
    values = {field.name: None for field in fields(TrainOptions)}
    assert TrainOptions.of(values).attack_steps is None
    with pytest.raises(TypeError, match=r"no field for \['budget'\], no option for \[\]"):
        TrainOptions.of({**values, "budget": 3.0})
    with pytest.raises(TypeError, match=r"no field for \[\], no option for \['attack_steps'\]"):
        TrainOptions.of({name: value for name, value in values.items() if name != "attack_steps"})


def test_the_model_commands_options_without_their_fields_are_refused():
    values = {field.name: None for field in fields(ExplainOptions)}
    assert ExplainOptions.of(values).counterfactual_samples is None
    with pytest.raises(TypeError, match=r"no field for \['save_adversarial'\], no option for \[\]"):
        ExplainOptions.of({**values, "save_adversarial": True})
