"""The art-sor command line, run in-process with Click's runner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from art_sor.cli import main


def test_train_writes_models_and_report(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "--epochs", "2", "--eval-samples", "50", "--attack-steps", "3",
                                       "--method", "standard", "--method", "sor:iterations=2", "--out", str(out),
                                       "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert [row["method"] for row in report["results"]] == ["standard", "sor:iterations=2"]
    for row in report["results"]:
        assert 0 <= row["clean_accuracy"] <= 1 and 0 <= row["pgd_accuracy"] <= 1
        assert len(row["history"]) == 2
    assert (out / "standard" / "model.pt").exists()
    assert (out / "sor_iterations_2" / "model.pt").exists()
    assert (out / "sor_iterations_2" / "training_state.pt").exists()
    assert "PGD-3" in result.output and "sor:iterations=2" in result.output
    assert report["threat"] == {"eps": 0.2, "norm": "inf"}

    # A rerun reuses the finished models rather than training again.
    again = CliRunner().invoke(main, ["train", "--epochs", "2", "--eval-samples", "50", "--attack-steps", "3",
                                      "--method", "standard", "--out", str(out), "--quiet", "--device", "cpu"])
    assert again.exit_code == 0, again.output
    rerun = json.loads((out / "report.json").read_text())["results"][0]
    assert rerun["history"] == report["results"][0]["history"]


def test_train_rejects_unknown_method_and_option(tmp_path):
    result = CliRunner().invoke(main, ["train", "--method", "magic", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code != 0 and "unknown defence 'magic'" in result.output
    result = CliRunner().invoke(main, ["train", "--method", "sor:colour=blue", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code != 0 and "colour" in result.output


def test_train_rejects_bad_eps(tmp_path):
    result = CliRunner().invoke(main, ["train", "--eps", "-1", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "eps" in result.output


def test_version_and_help():
    runner = CliRunner()
    assert runner.invoke(main, ["--version"]).exit_code == 0
    help_text = runner.invoke(main, ["train", "--help"]).output
    assert "--method" in help_text and "--eps" in help_text
