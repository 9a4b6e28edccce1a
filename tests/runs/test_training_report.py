"""The ``train`` report states each model's settings as its run key records them."""

from __future__ import annotations

from art_sor.runs.run_key import RunKey, plain
from art_sor.runs.training_report import settings_line
from art_sor.runs.training_setup import OptimizerSettings, ScheduleSettings, TrainingSetup


def key_of(setup: TrainingSetup) -> RunKey:
    return RunKey(dataset={"spec": "cifar10"}, threat={}, defence={}, setup=plain(setup.identity()), protocol={},
                  versions={})


def test_settings_line_reads_the_run_key():
    setup = TrainingSetup(batch_size=128, seed=1, train_samples=5000, select="best-robust", validation_samples=500,
                          architecture="preact-resnet18", augmentation="crop-flip",
                          optimizer=OptimizerSettings("sgd", 0.1, momentum=0.9, weight_decay=5e-4, nesterov=True),
                          schedule=ScheduleSettings("multistep", (100, 150)))
    assert settings_line(key_of(setup), 200) == (
        "cifar10, first 5000 training images, last 500 held out to select the epoch, preact-resnet18, 200 epochs, "
        "batch 128, sgd lr 0.1, momentum 0.9 (Nesterov), weight decay 0.0005, multistep at [100, 150] schedule, "
        "augmentation crop-flip, seed 1")
    assert settings_line(key_of(TrainingSetup()), 3) == (
        "cifar10, small-cnn, 3 epochs, batch 128, adam lr 0.001, constant schedule, augmentation none, seed 0")
