"""The trainer's own cost per step (loading, augmentation, input checks, statistics) against the SOR step itself.

Trains SOR N=1 on random CIFAR-shaped images (3×32×32) streamed through the DataLoader with crop-and-flip
augmentation, and times each ``training_step`` inside the epoch: the overhead is the rest of the epoch's time.

    python benchmarks/loader_overhead.py --architecture resnet18 --steps 10 --workers 0
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset
from art_sor.data.streaming import training_generator
from art_sor.registry import DEFENCES
from art_sor.runs.run_classifier import build_run_classifier, seed_everything
from art_sor.runs.training_setup import TrainingSetup
from art_sor.storage import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architecture", default="resnet18")
    parser.add_argument("--defence", default="sor")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    x = rng.random((n, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, n)
    data = Dataset("cifar10-shaped", x, y, x[:100], y[:100], tuple(str(k) for k in range(10)))
    setup = TrainingSetup(batch_size=args.batch_size, architecture=args.architecture, device=args.device)
    seed_everything(0)
    classifier = build_run_classifier(data, setup)
    trainer = DEFENCES.build(args.defence, classifier, ThreatModel(8 / 255, "inf"))
    inner = trainer.training_step
    step_seconds: list[float] = []

    def timed(x_batch: object, y_batch: object) -> dict[str, float]:
        start = time.perf_counter()
        stats = inner(x_batch, y_batch)
        if classifier.device.type == "cuda":
            torch.cuda.synchronize()
        step_seconds.append(time.perf_counter() - start)
        return stats

    trainer.training_step = timed
    generator = training_generator(x, y, args.batch_size, "crop-flip", args.workers,
                                   pin_memory=classifier.device.type == "cuda")
    history = trainer.fit_generator(generator, nb_epochs=1, verbose=False)
    epoch = history[0]["seconds"]
    result = {"architecture": args.architecture, "defence": args.defence, "device": str(classifier.device),
              "workers": args.workers, "threads": torch.get_num_threads(), "steps": len(step_seconds),
              "ms_per_step": 1000 * sum(step_seconds) / len(step_seconds),
              "overhead_ms_per_step": 1000 * (epoch - sum(step_seconds)) / len(step_seconds),
              "overhead_share": (epoch - sum(step_seconds)) / epoch}
    print(json.dumps(result))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
