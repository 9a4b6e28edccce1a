"""Sweep SOR's finite-difference step h and weight λ on Fashion-MNIST to justify the defaults.

Each run: small CNN, Adam 1e-3, batch 128, seed 0, L∞ ε=0.1, SOR N=1. Prints clean accuracy on the test set and
PGD-20 accuracy (ART, step ε/8, one random start) on the first ``--eval`` test images, one row per (h, λ).

    python benchmarks/sweep_h_lambda.py --train 20000 --epochs 3
"""

from __future__ import annotations

import argparse

from art_sor.core.threat import ThreatModel
from art_sor.data import load_dataset
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.runs.evaluating import evaluate_model
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup
from art_sor.storage import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=20000, help="training images (first n)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--eval", type=int, default=1000, help="test images attacked")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--h", type=float, nargs="+", default=[0.1, 0.5, 1.0, 2.0])
    parser.add_argument("--defence", default="sor", help="defence spec the h and lam options are added to")
    parser.add_argument("--lam", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0])
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()

    data = load_dataset("fashion-mnist")
    threat = ThreatModel(args.eps, "inf")
    setup = TrainingSetup(epochs=args.epochs, train_samples=args.train, device="cpu")
    plan = EvaluationPlan(threat, attacks=("pgd",), samples=args.eval, curve=False, geometry=False)
    grid = [(h, 1.0) for h in args.h] + [(1.0, lam) for lam in args.lam if lam != 1.0]
    rows = []
    print(f"{'h':>6} {'lam':>6} {'clean':>7} {'PGD-20':>7} {'s/epoch':>8}")
    separator = "," if ":" in args.defence else ":"
    for h, lam in grid:
        spec = f"{args.defence}{separator}h={h},lam={lam}"
        trained = train_defence(spec, data, threat, setup, verbose=False)
        result = evaluate_model(trained.classifier, data, plan, {"spec": spec}, verbose=False)
        row = {"h": h, "lam": lam, "clean": result.clean_accuracy,
               "pgd": result.evaluation.robustness.attacks[0].accuracy,
               "seconds_per_epoch": trained.seconds_per_epoch,
               "warnings": [w for record in trained.history for w in record.get("warnings", [])]}
        rows.append(row)
        print(f"{h:6.2f} {lam:6.2f} {row['clean']:7.3f} {row['pgd']:7.3f} {row['seconds_per_epoch']:8.1f}",
              flush=True)
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
