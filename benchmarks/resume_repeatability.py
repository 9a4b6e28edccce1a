"""For every defence: do two runs with one seed give identical weights, and does kill -9 then resume too?

Each defence trains 3 epochs on 400 digits (batch 50, one thread) three ways: straight through, straight through
again with the same seed, and in a child process killed with SIGKILL during its second epoch, then resumed here.
The weights of the second and third must equal the first's bit for bit.

    python benchmarks/resume_repeatability.py --json docs/results/resume_repeatability.json
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

from art_sor.core.threat import ThreatModel
from art_sor.data.bundled import load_digits
from art_sor.registry import DEFENCES
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup
from art_sor.storage import write_json
from art_sor.trainers.state import STATE_FILE

SETUP = TrainingSetup(epochs=3, batch_size=50, train_samples=400, device="cpu")
THREAT = ThreatModel(0.2, "inf")
CHILD = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from art_sor.core.threat import ThreatModel
    from art_sor.data.bundled import load_digits
    from art_sor.runs.training_setup import TrainingSetup
    from art_sor.runs.training import train_defence
    setup = TrainingSetup(epochs=3, batch_size=50, train_samples=400, device="cpu")
    train_defence(sys.argv[1], load_digits(), ThreatModel(0.2, "inf"), setup, sys.argv[2], verbose=False)
""")
# Fewer inner steps where a defence would otherwise dominate the run time.
SPECS = {"madry-pgd": "madry-pgd:steps=3", "trades": "trades:steps=3", "awp": "awp:steps=3", "llr": "llr:steps=2"}


def weights(classifier: torch.nn.Module) -> torch.Tensor:
    return torch.cat([v.detach().flatten().double() for v in classifier.model.state_dict().values()])


def killed_and_resumed(spec: str, folder: Path) -> tuple[torch.Tensor, int]:
    """Train in a child killed during epoch 2, then resume here; return the weights and the epoch it was killed in."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, spec, str(folder)])
    state = folder / STATE_FILE
    while not state.exists() and child.poll() is None:
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    saved = len(torch.load(state, weights_only=True)["history"])
    resumed = train_defence(spec, load_digits(), THREAT, SETUP, folder, verbose=False)
    return weights(resumed.classifier), saved + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json")
    parser.add_argument("--defence", action="append", help="only these specs [default: every defence]")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_digits()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.defence or [SPECS.get(name, name) for name in DEFENCES.names()]:
            name = spec.replace(":", "_").replace(",", "_")
            first = weights(train_defence(spec, data, THREAT, SETUP, verbose=False).classifier)
            second = weights(train_defence(spec, data, THREAT, SETUP, verbose=False).classifier)
            resumed, killed_in = killed_and_resumed(spec, Path(tmp) / name)
            row = {"defence": spec, "same_seed_identical": bool(torch.equal(first, second)),
                   "killed_in_epoch": killed_in, "resume_identical": bool(torch.equal(first, resumed)),
                   "max_abs_difference": float((first - resumed).abs().max())}
            rows.append(row)
            print(f"{spec:<22} same seed identical: {row['same_seed_identical']}; killed in epoch {killed_in}, "
                  f"resumed identical: {row['resume_identical']}", flush=True)
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
