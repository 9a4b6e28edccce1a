"""Clean and PGD-20 accuracy of saved models on leading test images, where the full evaluation is too slow.

``art-sor train`` measures clean accuracy on every test image and PGD on ``--eval-samples``; a PreAct ResNet-18
on two CPU cores needs about 16 CPU minutes for that on Fashion-MNIST. This measures clean accuracy on the first
``--clean-samples`` test images and ART PGD-20 (step ε/8, one seeded random start) on the first
``--attack-samples``, and lists each epoch's training accuracy and collapse warnings from the model's history.

    python benchmarks/quick_accuracy.py runs/resnet-seed-*/sor/model.pt --json docs/results/resnet_stability.json
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from art_sor.classifiers.checkpoints import load_classifier
from art_sor.core.threat import ThreatModel
from art_sor.data import load_dataset
from art_sor.evaluation.robustness import evaluate_attacks
from art_sor.storage import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="model.pt files written by art-sor")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--clean-samples", type=int, default=1000)
    parser.add_argument("--attack-samples", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset)
    rows = []
    for path in args.models:
        classifier, checkpoint = load_classifier(path, device="cpu")
        run, history = checkpoint["metadata"]["run"], checkpoint["metadata"]["history"]
        threat = ThreatModel(**run["threat"])
        n, m = args.clean_samples, args.attack_samples
        clean = float(np.mean(classifier.predict(data.x_test[:n]).argmax(1) == data.y_test[:n]))
        pgd = evaluate_attacks(classifier, data.x_test[:m], data.y_test[:m], threat, ["pgd"],
                               verbose=False).attacks[0].accuracy
        rows.append({"model": path, "defence": run["defence"]["spec"], "seed": run["setup"]["seed"],
                     "clean": clean, "clean_samples": n, "pgd20": pgd, "attack_samples": m,
                     "train_accuracy": [record["train_accuracy"] for record in history],
                     "warnings": [w for record in history for w in record.get("warnings", [])]})
        print(f"{rows[-1]['defence']} seed {rows[-1]['seed']}: clean {100 * clean:.1f} % ({n}), PGD-20 "
              f"{100 * pgd:.1f} % ({m}), training accuracy by epoch "
              f"{', '.join(f'{a:.3f}' for a in rows[-1]['train_accuracy'])}, warnings: {len(rows[-1]['warnings'])}",
              flush=True)
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
