"""How a standard model's robust accuracy falls with the radius in each norm: the measurement behind the radii
that ``art_sor.core.threat.STANDARD_RADII`` chose for digits and Fashion-MNIST.

A standard small CNN is trained as the dataset's recipe trains it (Adam 1e-3; digits: 40 epochs, batch 64;
Fashion-MNIST: 3 epochs, batch 128), then attacked on the first 200 test images at each radius of a grid, with
ART's PGD-20 (step ε/8, one seeded random start) and, in L1, Croce and Hein's L1-APGD-CE with 20 steps (ART's PGD
is weak there). A radius was chosen where standard training falls to about 1–2 %.

    python benchmarks/standard_radii.py --dataset digits --epochs 40 --json docs/results/standard_radii_digits.json
    python benchmarks/standard_radii.py --dataset fashion-mnist --epochs 3 \
        --json docs/results/standard_radii_fashion-mnist.json
"""

from __future__ import annotations

import argparse
import tempfile

from art_sor.core.threat import ThreatModel
from art_sor.data import load_dataset
from art_sor.evaluation.robustness import evaluate_attacks
from art_sor.runs.training import train_defence
from art_sor.runs.training_setup import TrainingSetup
from art_sor.storage import write_json

GRIDS = {
    "digits": {"inf": [0.05, 0.1, 0.15, 0.2, 0.3], "l2": [0.5, 1.0, 1.5, 2.0, 3.0],
               "l1": [2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 10.0, 15.0]},
    "fashion-mnist": {"inf": [0.1], "l2": [1.0, 1.5, 2.0, 2.5, 3.0], "l1": [5.0, 8.0, 10.0, 12.0, 15.0]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=list(GRIDS), default="digits")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    setup = TrainingSetup(epochs=args.epochs, batch_size=64 if args.dataset == "digits" else 128, device="cpu")
    with tempfile.TemporaryDirectory() as folder:
        classifier = train_defence("standard", data, ThreatModel(0.1, "inf"), setup, folder, verbose=False).classifier
    x, y = data.x_test[:args.samples], data.y_test[:args.samples]
    results = {}
    for norm, radii in GRIDS[args.dataset].items():
        for eps in radii:
            attacks = ["pgd", *(["apgd-ce:steps=20"] if norm == "l1" else [])]
            result = evaluate_attacks(classifier, x, y, ThreatModel(eps, norm), attacks, verbose=False)
            results[f"{norm} {eps}"] = {attack.label: attack.accuracy for attack in result.attacks}
            print(args.dataset, norm, eps, {label: f"{100 * a:.1f} %" for label, a in results[f"{norm} {eps}"].items()})
    if args.json:
        write_json(args.json, {"dataset": args.dataset, "epochs": args.epochs, "samples": args.samples,
                               "accuracy": results})


if __name__ == "__main__":
    main()
