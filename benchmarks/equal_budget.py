"""Robustness per unit of compute on Fashion-MNIST: every defence at the budget of five epochs of PGD-AT.

The protocol of the compute issue, in phases that can run in separate processes (each into its own folder):

1. ``--phase all``: every defence with seed 0;
2. ``--phase seeds``: the ``--top`` defences with ``--more-seeds`` (name them with ``--defence``);
3. ``--phase report``: merge the folders given with ``--merge`` into ``--out`` and write one report from the
   finished runs (nothing is trained or evaluated again: every run and evaluation is reused by its key).

Setup: the first 20 000 training images, the small CNN, Adam 1e-3, batch 128, L∞ ε = 0.1; the budget is the CPU
time ``pgd-at`` (7 steps) needs for 5 epochs, measured in the same run (or given with ``--budget``); attacks on the
first 1000 test images (``--eval-samples``; every attack runs on the same images): FGSM, PGD-20, PGD-50×3,
Square-300 (black-box, for the diagnostics) and the canonical AutoAttack, which costs about 15 CPU minutes per 1000
images of a robust model; diagnostics and geometry; alignment scores with an independently trained PGD-AT judge
(``--judge``).

    python benchmarks/equal_budget.py --phase all --out runs/equal-budget --judge runs/judge/pgd-at/model.pt
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch

from art_sor.classifiers.checkpoints import load_classifier
from art_sor.core.threat import ThreatModel
from art_sor.data import load_dataset
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.runs.alignment import ComparisonAlignment
from art_sor.runs.comparison import budget_of, run_comparison
from art_sor.runs.comparison_report import comparison_report
from art_sor.runs.epoch_hooks import Budget
from art_sor.runs.job_context import JobContext
from art_sor.runs.plans import ComparisonPlan
from art_sor.runs.reports import write_report
from art_sor.runs.training_setup import TrainingSetup
from art_sor.specs import Spec

DEFENCES = ("standard", "gr", "cure", "llr", "sor", "sor:iterations=3,step=frank_wolfe",
            "sor:iterations=3,step=frank_wolfe,objective=perturbed", "pgd-at", "fgsm-rs", "madry-pgd", "trades",
            "fbf")
ATTACKS = ("fgsm", "pgd", "pgd:steps=50,restarts=3", "square:queries=300", "autoattack-standard")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=["all", "seeds", "report"], required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--defence", action="append", help="defences of this phase [default: all]")
    parser.add_argument("--more-seeds", default="1,2")
    parser.add_argument("--top", action="append", help="defences that get more seeds (report phase)")
    parser.add_argument("--merge", action="append", default=[], help="run folders to merge (report phase)")
    parser.add_argument("--judge", help="checkpoint of the independent judge of the alignment scores")
    parser.add_argument("--train-samples", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budget", type=float, help="CPU seconds [default: measure pgd-at's 5 epochs here]")
    parser.add_argument("--eval-samples", type=int, default=1000, help="leading test images every attack runs on")
    parser.add_argument("--attack", action="append", help=f"attack spec, repeatable [default: {', '.join(ATTACKS)}]")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_dataset("fashion-mnist")
    threat = ThreatModel(0.1, "inf")
    setup = TrainingSetup(epochs=60, batch_size=128, train_samples=args.train_samples, device="cpu")
    out = Path(args.out)
    for folder in args.merge:
        shutil.copytree(folder, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".art-sor.lock", "results*",
                                                                                      "robust_vs_compute.png",
                                                                                      "geometry.csv"))
    budget = (Budget(args.budget, "cpu") if args.budget else
              budget_of(Spec.parse("pgd-at"), 5, data, threat, setup, "cpu", out, JobContext(verbose=False)))
    judge = load_classifier(args.judge, device="cpu")[0] if args.judge else None
    alignment = ComparisonAlignment(data.input_shape, judge, str(Path(args.judge).resolve()) if judge else "")
    plan = ComparisonPlan(setup=setup, evaluation=EvaluationPlan(threat, attacks=tuple(args.attack or ATTACKS),
                                                                   samples=args.eval_samples),
                          budget=budget, extras=alignment.key())
    more = tuple(int(seed) for seed in args.more_seeds.split(","))
    specs = args.defence or list(DEFENCES)

    def rows_of(specs: list[str], seeds: tuple[int, ...]) -> list:
        seeded = ComparisonPlan(**{**vars(plan), "seeds": seeds})
        return run_comparison(specs, data, seeded, out, JobContext(verbose=False),
                              extra_metrics=alignment if judge else None)

    if args.phase == "all":
        rows_of(specs, (0,))
    elif args.phase == "seeds":
        rows_of(specs, more)
    else:
        rows = rows_of(specs, (0,)) + rows_of(args.top or [], more)
        rows.sort(key=lambda row: (specs.index(row.defence) if row.defence in specs else len(specs), row.seed))
        report_plan = ComparisonPlan(**{**vars(plan), "seeds": (0, *more)})
        note = (f"{args.budget:g} CPU seconds, given with --budget" if args.budget else
                "the CPU time pgd-at took for 5 epochs")
        command = "python benchmarks/equal_budget.py " + " ".join(sys.argv[1:])
        write_report(comparison_report(rows, report_plan, data, command, note), out, stem="results")
        print((out / "results.md").read_text())


if __name__ == "__main__":
    main()
