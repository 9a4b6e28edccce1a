"""evaluate and explain of an art-sor checkpoint default to the dataset it was trained on."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from art_sor.cli import main

QUICK = ["--quiet", "--device", "cpu"]


def _trained_on_other_data(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (60, 1, 12, 12), dtype=np.uint8),
              "y_train": rng.integers(0, 3, 60), "x_test": rng.integers(0, 256, (20, 1, 12, 12), dtype=np.uint8),
              "y_test": rng.integers(0, 3, 20)}
    np.savez(tmp_path / "data.npz", **arrays)
    out = tmp_path / "train"
    result = CliRunner().invoke(main, ["train", "--dataset", f"npz:{tmp_path / 'data.npz'}", "--defence", "standard",
                                       "--epochs", "1", "--eval-samples", "10", "--attack-steps", "2", *QUICK,
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out / "standard" / "model.pt"


def test_evaluate_and_explain_default_to_the_checkpoints_dataset(tmp_path):
    model = _trained_on_other_data(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", str(model), "--attack", "fgsm", "--eval-samples", "10",
                                       "--no-curve", "--no-geometry", *QUICK, "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output  # digits (1×8×8, 10 classes) would not fit the model
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["dataset"] == f"npz:{tmp_path / 'data.npz'}"
    result = CliRunner().invoke(main, ["explain", str(model), "--image", "0", "--score-samples", "5",
                                       "--counterfactual-samples", "2", "--steps", "2", *QUICK,
                                       "--out", str(tmp_path / "explain")])
    assert result.exit_code == 0, result.output
    # --dataset still overrides it, and a mismatch names the option.
    result = CliRunner().invoke(main, ["evaluate", str(model), "--dataset", "digits", "--attack", "fgsm", *QUICK,
                                       "--out", str(tmp_path / "eval-digits")])
    assert result.exit_code != 0 and "--dataset" in result.output and "(1, 12, 12)" in result.output


def test_a_failed_download_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    from urllib.error import URLError

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("art_sor.cli.evaluate.open_dataset", offline)
    result = CliRunner().invoke(main, ["evaluate", "robustbench:Wong2020Fast", "--dataset", "cifar10", "--download",
                                       "--data-root", str(tmp_path), *QUICK])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "a download failed (" in result.output and "name resolution" in result.output
    assert not isinstance(result.exception, URLError)  # handled, not escaped
