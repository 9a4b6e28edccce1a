"""Saved training states: a resume under other settings is refused, naming the one setting that differs."""

from __future__ import annotations

import pytest
import torch
from conftest import digits_cnn, make_classifier

from art_sor import SORTrainer
from art_sor.core.threat import ThreatModel
from art_sor.trainers.state import differing_settings


def test_changed_settings_name_the_one_setting_not_every_optimizer_group():
    saved = {"optimizer": {"param_groups": [{"lr": 0.1, "momentum": 0.9, "betas": [0.9, 0.99]}]}}
    current = {"optimizer": {"param_groups": [{"lr": 0.01, "momentum": 0.9, "betas": [0.9, 0.99]}]}}
    assert differing_settings(saved, current) == ["optimizer.param_groups[0].lr: 0.1 → 0.01"]


def test_a_resume_with_another_learning_rate_or_without_the_scheduler_is_refused_naming_it(digits, tmp_path):
    x, y = digits.x_train[:100], digits.y_train[:100]

    def classifier(lr):
        return make_classifier(digits_cnn(), (1, 8, 8), lr=lr, clip_values=(0.0, 1.0))

    first = classifier(1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(first.optimizer, 1, 0.5)
    SORTrainer(first, ThreatModel(0.1, "inf")).fit(x, y, nb_epochs=1, batch_size=50, verbose=False,
                                                   checkpoint_dir=tmp_path, scheduler=scheduler)
    other = classifier(0.1)
    torch.optim.lr_scheduler.StepLR(other.optimizer, 1, 0.5)
    with pytest.raises(ValueError, match=r"holds a run with other settings \(saved → this trainer\): "
                                         r"config\.optimizer\.param_groups\[0\]\.initial_lr: 0\.001 → 0\.1; "
                                         r"config\.optimizer\.param_groups\[0\]\.lr: 0\.001 → 0\.1; "
                                         r"scheduler: StepLR per epoch → None$"):
        SORTrainer(other, ThreatModel(0.1, "inf")).fit(x, y, nb_epochs=2, batch_size=50, verbose=False,
                                                       checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match=r"initial_lr: 0.001 → None; scheduler: StepLR per epoch → None; "
                                         r"the run was saved with a learning-rate scheduler"):
        SORTrainer(classifier(1e-3), ThreatModel(0.1, "inf")).fit(x, y, nb_epochs=2, batch_size=50, verbose=False,
                                                                  checkpoint_dir=tmp_path, resume=True)
