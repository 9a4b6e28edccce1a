"""Training cost and robustness of SOR against standard training, measured side by side in one run.

Setup (the foundation issue's benchmark): Fashion-MNIST, the small CNN, L∞ ε=0.1, Adam 1e-3, batch 128, seed 0,
3 epochs. Reports seconds per epoch and their ratio to standard training's in the same run, clean accuracy on
the whole test set and PGD-20 accuracy (ART, step ε/8, one random start) on the first 1000 test images.

    python benchmarks/cost_and_robustness.py                      # standard, SOR N=1, SOR N=3
    python benchmarks/cost_and_robustness.py --defence gr --defence cure
"""

from __future__ import annotations

import argparse
import json
import platform

import torch

from art_sor.data import load_dataset
from art_sor.defences import ThreatModel
from art_sor.evaluation import accuracy, pgd_accuracy
from art_sor.experiment import TrainingSetup, train_defence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--defence", action="append", help="defence spec; repeatable (standard always runs first)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--norm", default="inf")
    parser.add_argument("--eval", type=int, default=1000, help="test images attacked")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()

    data = load_dataset(args.dataset)
    threat = ThreatModel(args.eps, args.norm)
    setup = TrainingSetup(epochs=args.epochs, device=args.device)
    specs = ["standard", *(args.defence or ["sor", "sor:iterations=3"])]
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {args.device}; {args.dataset}, ε={args.eps} L{threat.norm}, "
          f"{args.epochs} epochs")
    print(f"{'defence':<22} {'s/epoch':>8} {'× standard':>10} {'clean':>7} {'PGD-20':>7}")
    rows = []
    for spec in specs:
        trained = train_defence(spec, data, threat, setup, verbose=False)
        seconds = trained.seconds_per_epoch
        row = {"defence": spec, "seconds_per_epoch": seconds,
               "ratio": seconds / rows[0]["seconds_per_epoch"] if rows else 1.0,
               "clean": accuracy(trained.classifier, data.x_test, data.y_test),
               "pgd20": pgd_accuracy(trained.classifier, data.x_test[:args.eval], data.y_test[:args.eval],
                                     threat.eps, threat.norm, steps=20)}
        rows.append(row)
        print(f"{spec:<22} {seconds:8.1f} {row['ratio']:10.2f} {100 * row['clean']:6.1f}% {100 * row['pgd20']:6.1f}%",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
