"""Training cost and robustness of defences against standard training, measured side by side in one run.

Default setup (the foundation issue's benchmark): Fashion-MNIST, the small CNN, L∞ ε=0.1, Adam 1e-3, batch 128,
seed 0, 3 epochs. Reports seconds per epoch and their ratio to standard training's, clean accuracy on the whole
test set and PGD-20 accuracy (ART, step ε/8, one seeded random start) on the first ``--eval`` test images.

Epoch times of runs made one after another drift with the machine's load, so the script also times training
steps interleaved: ``--rounds`` rounds in which every defence trains ``--steps`` batches in turn, on fresh models.
The median over rounds of each defence's milliseconds per batch, divided by standard training's, is the
steady-state cost ratio.

    python benchmarks/cost_and_robustness.py                      # standard, SOR N=1, SOR N=3
    python benchmarks/cost_and_robustness.py --defence gr --defence cure --epochs 5
    python benchmarks/cost_and_robustness.py --architecture preact-resnet18 --optimizer sgd --lr 0.1 \\
        --weight-decay 5e-4 --schedule cosine --train 5000 --defence sor --defence sor:iterations=3 \\
        --defence pgd-at                                          # the paper-scale recipe shape on a CPU
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from art_sor.core.threat import ThreatModel
from art_sor.data import Dataset, load_dataset
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.registry import DEFENCES
from art_sor.runs.evaluating import evaluate_model
from art_sor.runs.run_classifier import build_run_classifier, seed_everything
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import OptimizerSettings, ScheduleSettings, TrainingSetup
from art_sor.specs import Spec
from art_sor.storage import write_json


def interleaved_step_times(specs: list[str], data: Dataset, threat: ThreatModel, setup: TrainingSetup,
                           rounds: int, steps: int) -> dict[str, float]:
    """Median milliseconds per training batch of each defence, timed in alternation."""
    trainers = {}
    for spec in specs:
        seed_everything(setup.seed)
        trainers[spec] = DEFENCES.build(spec, build_run_classifier(data, setup), threat)
    order = torch.randperm(len(data.x_train)).numpy()
    batches = len(data.x_train) // setup.batch_size
    times: dict[str, list[float]] = {spec: [] for spec in specs}
    batch = 0
    for _ in range(rounds):
        for spec, trainer in trainers.items():
            start = time.perf_counter()
            for _ in range(steps):
                index = order[(batch % batches) * setup.batch_size:(batch % batches + 1) * setup.batch_size]
                trainer.training_step(data.x_train[index], data.y_train[index])
                batch += 1
            times[spec].append(1000 * (time.perf_counter() - start) / steps)
    return {spec: statistics.median(values) for spec, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--defence", action="append", help="defence spec; repeatable (standard always runs first)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--norm", default="inf")
    parser.add_argument("--architecture", default="small-cnn")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--schedule", default="constant")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train", type=int, default=None, help="training images (first n)")
    parser.add_argument("--eval", type=int, default=1000, help="test images attacked")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of interleaved step timing (0: skip)")
    parser.add_argument("--steps", type=int, default=20, help="batches per defence per round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--timing-only", action="store_true", help="only the interleaved step timing")
    parser.add_argument("--out", help="save each model in OUT/<defence> (a rerun reuses them)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    data = load_dataset(args.dataset)
    threat = ThreatModel(args.eps, args.norm)
    setup = TrainingSetup(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, device=args.device,
                          architecture=args.architecture, train_samples=args.train,
                          optimizer=OptimizerSettings(args.optimizer, args.lr, args.momentum, args.weight_decay),
                          schedule=ScheduleSettings(args.schedule))
    plan = EvaluationPlan(threat, attacks=("pgd",), samples=args.eval, curve=False, geometry=False)
    specs = ["standard", *(args.defence or ["sor", "sor:iterations=3"])]
    print(f"# {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, device "
          f"{args.device}; {args.dataset}, {args.architecture}, {args.optimizer} lr {args.lr:g}, {args.schedule}, "
          f"{threat.label}, {args.epochs} epochs, seed {args.seed}")
    steps = interleaved_step_times(specs, data, threat, setup, args.rounds, args.steps) if args.rounds else {}
    if args.timing_only:
        for spec, milliseconds in steps.items():
            print(f"{spec:<34} {milliseconds:8.1f} ms/step {milliseconds / steps['standard']:6.2f} × standard")
        if args.json:
            write_json(args.json, {"setup": setup.identity(), "threads": torch.get_num_threads(),
                                   "rounds": args.rounds, "steps": args.steps, "ms_per_step": steps,
                                   "step_ratio": {spec: ms / steps["standard"] for spec, ms in steps.items()}})
        return
    print(f"{'defence':<34} {'s/epoch':>8} {'× standard':>10} {'ms/step':>8} {'× standard':>10} {'clean':>7} "
          f"{'PGD-20':>7}")
    rows = []
    for spec in specs:
        folder = f"{args.out}/{Spec.parse(spec).folder}" if args.out else None
        trained = train_defence(spec, data, threat, setup, folder, verbose=False)
        result = evaluate_model(trained.classifier, data, plan, {"spec": spec}, verbose=False)
        seconds = trained.seconds_per_epoch
        row = {"defence": spec, "seconds_per_epoch": seconds,
               "epoch_ratio": seconds / rows[0]["seconds_per_epoch"] if rows else 1.0,
               "ms_per_step": steps.get(spec), "step_ratio": steps[spec] / steps["standard"] if steps else None,
               "clean": result.clean_accuracy, "pgd": result.evaluation.robustness.attacks[0].accuracy,
               "warnings": [w for record in trained.history for w in record.get("warnings", [])]}
        rows.append(row)
        step_cells = f"{row['ms_per_step']:8.1f} {row['step_ratio']:10.2f}" if steps else f"{'':8} {'':10}"
        print(f"{spec:<34} {seconds:8.1f} {row['epoch_ratio']:10.2f} {step_cells} {100 * row['clean']:6.1f}% "
              f"{100 * row['pgd']:6.1f}%", flush=True)
    if args.json:
        write_json(args.json, {"setup": setup.identity() | {"epochs": setup.epochs}, "eps": args.eps,
                               "norm": threat.norm, "threads": torch.get_num_threads(), "rows": rows})


if __name__ == "__main__":
    main()
