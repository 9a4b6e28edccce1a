"""A run key gives back the typed training setup it records."""

from __future__ import annotations

from art_sor.runs.run_key import RunKey, plain
from art_sor.runs.training_setup import OptimizerSettings, ScheduleSettings, TrainingSetup


def key_of(setup: TrainingSetup, dataset: str = "digits") -> RunKey:
    return RunKey(dataset={"spec": dataset}, threat={}, defence={}, setup=plain(setup.identity()), protocol={},
                  versions={})


def test_the_key_gives_back_its_training_setup():
    setup = TrainingSetup(epochs=40, batch_size=64, seed=3, train_samples=500, select="best-robust",
                          validation_samples=100, optimizer=OptimizerSettings("sgd", 0.1, weight_decay=5e-4,
                                                                              nesterov=True),
                          schedule=ScheduleSettings("multistep", (20, 30), 0.2), augmentation="crop-flip")
    key = key_of(setup, "npz:/data/x.npz")
    assert key.training_setup(40) == setup and key.training_setup(7).epochs == 7
    assert key.dataset_spec == "npz:/data/x.npz"
