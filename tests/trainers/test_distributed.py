"""Data-parallel training with 2 CPU processes (gloo on localhost, launched with torchrun) against one process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

# torchrun starts two fresh interpreters per test: tens of seconds each.
pytestmark = pytest.mark.slow

WORKER = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from art_sor.trainers.distributed import init_from_environment
    init_from_environment()
    from art_sor.core.threat import ThreatModel
    from art_sor.data.bundled import load_digits
    from art_sor.classifiers.wrapping import wrap_model
    from art_sor.models import build_model
    from art_sor.registry import DEFENCES
    spec, out = sys.argv[1], sys.argv[2]
    data = load_digits()
    torch.manual_seed(0)
    model = build_model("small-cnn", data.input_shape, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    classifier = wrap_model(model, data.input_shape, 10, optimizer=optimizer, device="cpu")
    trainer = DEFENCES.build(spec, classifier, ThreatModel(0.2, "inf"))
    # 301 samples in batches of 64: the last global batch (45) splits 22 / 23 between two processes.
    history = trainer.fit(data.x_train[:301], data.y_train[:301], batch_size=64, nb_epochs=2, verbose=False)
    if trainer.parallel.leader:
        torch.save({"weights": torch.cat([p.detach().flatten() for p in model.parameters()]), "history": history,
                    "size": trainer.parallel.size}, out)
""")


def torchrun(*args: str, processes: int = 2) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc-per-node={processes}", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("spec", ["sor", "gr"])
def test_two_processes_match_one(tmp_path, spec):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    one = subprocess.run([sys.executable, str(script), spec, str(tmp_path / "one.pt")], capture_output=True,
                         text=True)
    assert one.returncode == 0, one.stderr
    two = torchrun(str(script), spec, str(tmp_path / "two.pt"))
    assert two.returncode == 0, two.stderr
    single, parallel = (torch.load(tmp_path / name, weights_only=False) for name in ("one.pt", "two.pt"))
    assert (single["size"], parallel["size"]) == (1, 2)
    difference = (single["weights"] - parallel["weights"]).norm() / single["weights"].norm()
    assert difference < 1e-3, difference
    for a, b in zip(single["history"], parallel["history"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)  # statistics over the global batch
        assert a["train_accuracy"] == pytest.approx(b["train_accuracy"], abs=1e-6)


def test_art_trainers_refuse_more_than_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    result = torchrun(str(script), "madry-pgd", str(tmp_path / "x.pt"))
    assert result.returncode != 0 and "madry-pgd trains in one process only" in result.stderr


def test_cli_under_torchrun_trains_one_model_and_rank_0_reports(tmp_path):
    out = tmp_path / "run"
    result = torchrun("-m", "art_sor.cli", "train", "--defence", "sor", "--epochs", "1", "--train-samples", "300",
                      "--eval-samples", "30", "--attack-steps", "2", "--quiet", "--device", "cpu", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = json.loads((out / "report.json").read_text())["results"]
    assert len(rows) == 1 and rows[0]["training"]["world_size"] == 2
    assert result.stdout.count("# Defences trained on digits") == 1
    assert result.stderr.count("training sor on digits") == 1  # rank 1's messages stay silent


def test_resume_under_torchrun_matches_a_straight_run(tmp_path):
    common = ["-m", "art_sor.cli", "train", "--defence", "sor", "--train-samples", "300", "--eval-samples", "10",
              "--attack-steps", "1", "--quiet", "--device", "cpu"]
    for epochs, out in (("1", "resumed"), ("2", "resumed"), ("2", "straight")):
        result = torchrun(*common, "--epochs", epochs, "--out", str(tmp_path / out))
        assert result.returncode == 0, result.stderr
    resumed, straight = (torch.load(tmp_path / out / "sor" / "model.pt", weights_only=True)
                         for out in ("resumed", "straight"))
    assert [r["epoch"] for r in resumed["metadata"]["history"]] == [1, 2]
    for name, tensor in straight["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][name], tensor, rtol=0, atol=0)


@pytest.mark.parametrize("args, option, message", [
    (["--train-samples", "1"], "--train-samples", "1 training sample(s) for 2 processes"),
    (["--train-samples", "301", "--batch-size", "100"], "--batch-size",
     "batch_size 100 leaves a last batch of 1 samples for 2 processes"),
])
def test_cli_under_torchrun_refuses_batches_a_process_gets_nothing_of(tmp_path, args, option, message):
    result = torchrun("-m", "art_sor.cli", "train", "--defence", "standard", "--epochs", "1", "--quiet", "--device",
                      "cpu", "--out", str(tmp_path / "run"), *args)
    # torchrun's launcher prints its own traceback for a failed worker; none comes from art-sor.
    assert result.returncode != 0 and "/art_sor/" not in result.stderr, result.stderr
    assert f"Invalid value for {option}" in result.stderr and message in result.stderr
    assert not (tmp_path / "run" / "standard" / "training_state.pt").exists()
