"""``art-sor evaluate``: what it writes beside its report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from art_sor.cli import main
from art_sor.core.threat import ThreatModel
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    setup = TrainingSetup(epochs=8, batch_size=64, train_samples=600, device="cpu")
    return train_defence("standard", digits, ThreatModel(0.1, "inf"), setup,
                         tmp_path_factory.mktemp("run") / "standard", verbose=False)


def test_evaluate_cli_saves_adversarial_examples_and_reuses_them(trained, tmp_path):
    out = tmp_path / "report"
    args = ["evaluate", str(trained.path), "--eval-samples", "40", "--attack", "pgd:steps=3", "--no-curve",
            "--no-geometry", "--quiet", "--device", "cpu", "--out", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert not (out / "adversarial.npz").exists()
    # The cached evaluation holds no examples, so the attacks run again and the report matches them.
    result = CliRunner().invoke(main, [*args, "--save-adversarial"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    worst = [c == "1" for c in report["evaluation"]["robustness"]["clean"]]
    for attack in report["evaluation"]["robustness"]["attacks"]:
        worst = [w and c == "1" for w, c in zip(worst, attack["robust"], strict=True)]
    saved = np.load(out / "adversarial.npz")
    assert saved["robust"].tolist() == worst and len(worst) == 40
    stamp = (out / "adversarial.npz").stat().st_mtime_ns
    assert CliRunner().invoke(main, [*args, "--save-adversarial"]).exit_code == 0
    assert (out / "adversarial.npz").stat().st_mtime_ns == stamp
