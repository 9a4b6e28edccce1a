"""The GPU check: CUDA tests, then training-step cost on CIFAR-shaped data with PreAct ResNet-18, in one command.

    python benchmarks/gpu_check.py                 # on a CUDA machine
    python benchmarks/gpu_check.py --json gpu.json # also keep the table

It runs the test suite's CUDA tests (``pytest -k cuda``), then ``--steps`` training steps (after ``--warmup``) of
standard training, SOR N=1, SOR N=3 and PGD-AT (7 steps) at batch 128 on random 3×32×32 images, with and without
mixed precision (``torch.amp``: float16 with a gradient scaler), ``channels_last`` and ``cudnn.benchmark`` on. It
prints milliseconds per step, the ratio to standard training with the same precision, and peak GPU memory.
``--device cpu --steps 2`` smoke-tests the script without a GPU.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import time

import numpy as np
import torch

from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.registry import DEFENCES
from art_sor.runs.run_classifier import build_run_classifier, seed_everything
from art_sor.runs.training_setup import OptimizerSettings, TrainingSetup
from art_sor.storage import write_json
from art_sor.trainers import StepSettings

DEFENCES_TIMED = ("standard", "sor", "sor:iterations=3", "pgd-at")


def cifar_shaped(samples: int) -> Dataset:
    """Random images of CIFAR-10's shape (the cost of a step does not depend on the pixels)."""
    rng = np.random.default_rng(0)
    x = rng.random((samples, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    return Dataset("cifar10-shaped", x, y, x[:256], y[:256], tuple(str(k) for k in range(10)))


def time_steps(spec: str, data: Dataset, setup: TrainingSetup, steps: int, warmup: int, amp: bool) -> dict:
    """Milliseconds per training step and peak memory of one defence."""
    seed_everything(0)
    trainer = DEFENCES.build(spec, build_run_classifier(data, setup), ThreatModel(8 / 255, "inf"),
                             StepSettings(amp=amp))
    device = trainer.get_classifier().device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    batch = setup.batch_size
    for step in range(warmup + steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
        start_index = (step * batch) % (len(data.x_train) - batch)
        index = slice(start_index, start_index + batch)
        trainer.training_step(data.x_train[index], data.y_train[index])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return {"defence": spec, "amp": amp, "ms_per_step": 1000 * (time.perf_counter() - start) / steps,
            "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no CUDA device (use --device cpu for a smoke test)")
    tests = None
    if not args.skip_tests:
        root = pathlib.Path(__file__).parents[1]
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-k", "cuda", str(root / "tests")]).returncode
    info = (torch.cuda.get_device_name() if args.device == "cuda" else "CPU")
    print(f"# {info}, torch {torch.__version__}, PreAct ResNet-18, batch {args.batch_size}, {args.steps} steps after "
          f"{args.warmup} warm-up steps; channels_last, cudnn.benchmark")
    data = cifar_shaped(max(4 * args.batch_size, 512))
    setup = TrainingSetup(batch_size=args.batch_size, architecture="preact-resnet18", device=args.device,
                          channels_last=True, optimizer=OptimizerSettings("sgd", 0.1, weight_decay=5e-4))
    rows = []
    print(f"{'defence':<20} {'amp':>5} {'ms/step':>9} {'× standard':>11} {'peak GiB':>9}")
    for amp in (False, True):
        base = None
        for spec in DEFENCES_TIMED:
            row = time_steps(spec, data, setup, args.steps, args.warmup, amp)
            base = base or row["ms_per_step"]
            row["ratio"] = row["ms_per_step"] / base
            rows.append(row)
            memory = f"{row['peak_memory_gib']:9.2f}" if row["peak_memory_gib"] is not None else f"{'–':>9}"
            print(f"{spec:<20} {amp!s:>5} {row['ms_per_step']:9.1f} {row['ratio']:11.2f} {memory}", flush=True)
    if args.json:
        write_json(args.json, {"device": info, "torch": torch.__version__, "cuda_tests_exit_status": tests,
                               "rows": rows})
    if tests:
        sys.exit(f"gpu_check: the CUDA tests failed (pytest exit status {tests})")


if __name__ == "__main__":
    main()
