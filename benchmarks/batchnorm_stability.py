"""Regularizers under an ordinary SGD + BatchNorm recipe: does training survive, and why not when it does not.

The recipe of the stability issue, on scikit-learn's digits (1×8×8): two conv + BatchNorm2d + ReLU layers,
max-pool, Dropout(0.3), a 128-unit hidden layer; ART ``PyTorchClassifier`` with clip values (0, 1); SGD(lr=0.05,
momentum=0.9, weight_decay=5e-4), cosine annealing over 30 epochs, batch 64; the defence at L∞ ε = 0.2 with its
defaults. After training: clean accuracy and ART PGD-20 accuracy (step ε/8, one seeded random start) on all 450
test images.

Every epoch it also records what the method page uses to explain collapses:

* ``active_hidden``: the share of the hidden layer's ReLUs that are active in the clean training passes;
* ``bn_var_ratio``: per BatchNorm layer, the median over channels of (variance of the current inputs) / (running
  variance), on 256 fixed training images: how far the running statistics, which eval-mode passes use, are from
  the statistics of the network being trained (1 means they agree);
* the loss parts of the history (clean loss, penalty, training accuracy) and any collapse warning.

``--batch-norm`` picks the statistics of the regularizer's passes: ``batch`` (the default: the batch's own
statistics, gradients flowing through them), ``eval`` (the running statistics), or the diagnostic ``frozen``, which
is no option of art-sor: the batch's statistics held constant, so that gradients do not flow through them.

    python benchmarks/batchnorm_stability.py --defence sor --batch-norm batch --batch-norm eval --seeds 0,1,2,3
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from json_log import append_json
from torch import nn

from art_sor.classifiers.view import ClassifierView
from art_sor.core.threat import ThreatModel
from art_sor.data.bundled import load_digits
from art_sor.evaluation import evaluate_attacks
from art_sor.registry import DEFENCES
from art_sor.trainers import StepSettings

THREAT = ThreatModel(0.2, "inf")


def recipe_model(seed: int) -> nn.Sequential:
    """The issue's small BatchNorm CNN, seeded."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Dropout(0.3), nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(),
                         nn.Linear(128, 10))


@contextlib.contextmanager
def frozen_statistics(view: ClassifierView) -> Iterator[None]:
    """Diagnostic only: batch norm with the batch's statistics, held constant (no gradient through them)."""
    model, batch_norms = view.model, view.batch_norms
    was_training = model.training
    saved = [(bn.running_mean, bn.running_var) for bn in batch_norms]

    def use_batch_statistics(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0]
        dims = [0, *range(2, x.dim())]
        # Reassigned, not written in place, so that earlier graphs keep the tensors they saved.
        module.running_mean = x.mean(dims).detach()
        module.running_var = x.var(dims, unbiased=False).detach()

    model.eval()
    hooks = [bn.register_forward_pre_hook(use_batch_statistics) for bn in batch_norms]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
        for bn, (mean, var) in zip(batch_norms, saved, strict=True):
            bn.running_mean, bn.running_var = mean, var
        model.train(was_training)


class Probe:
    """Records the hidden layer's active share in training passes and the BN statistics gap after each epoch."""

    def __init__(self, model: nn.Sequential, x_probe: torch.Tensor) -> None:
        self.model, self.x_probe = model, x_probe
        self.active: list[float] = []
        model[10].register_forward_hook(self._record)

    def _record(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        if module.training:
            self.active.append(float((output > 0).float().mean()))

    def __call__(self, trainer: Any, record: dict[str, Any]) -> None:
        record["active_hidden"] = float(np.mean(self.active)) if self.active else float("nan")
        self.active.clear()
        captured: list[torch.Tensor] = []
        hooks = [self.model[i].register_forward_pre_hook(lambda m, inputs: captured.append(inputs[0]))
                 for i in (1, 4)]
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            self.model(self.x_probe)
        self.model.train(was_training)
        for hook in hooks:
            hook.remove()
        record["bn_var_ratio"] = [float((x.var(dim=(0, 2, 3)) / self.model[i].running_var).median())
                                  for x, i in zip(captured, (1, 4), strict=True)]


def run(spec: str, batch_norm: str, seed: int, epochs: int) -> dict[str, Any]:
    """Train one defence with the recipe and return its history, clean and PGD-20 accuracy."""
    data = load_digits()
    model = recipe_model(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    classifier = PyTorchClassifier(model, nn.CrossEntropyLoss(), (1, 8, 8), 10, optimizer=optimizer,
                                   clip_values=(0.0, 1.0))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    # "batch" is the default; "frozen" patches the default's passes below.
    plain = batch_norm in ("batch", "frozen") or spec == "standard"
    trainer = DEFENCES.build(spec, classifier, THREAT, StepSettings(batch_norm="batch" if plain else "eval"))
    if batch_norm == "frozen":  # the view's mode of the extra passes, replaced on this trainer's view only
        view = trainer.view
        view.perturbation_mode = lambda mode, order=2, update_running_stats=False: frozen_statistics(view)
    probe = Probe(model, torch.tensor(data.x_train[:256]))
    torch.manual_seed(seed)
    try:
        history = trainer.fit(data.x_train, data.y_train, batch_size=64, nb_epochs=epochs, scheduler=scheduler,
                              verbose=False, epoch_callback=probe)
    except FloatingPointError as error:  # a diverged run is an outcome to report, not a crash of the benchmark
        return {"defence": spec, "batch_norm": batch_norm, "seed": seed, "clean": None, "pgd20": None,
                "collapsed": True, "diverged": f"after {len(trainer.history)} epochs: {error}",
                "history": trainer.history}
    clean = float(np.mean(classifier.predict(data.x_test).argmax(1) == data.y_test))
    pgd = evaluate_attacks(classifier, data.x_test, data.y_test, THREAT, ["pgd"], verbose=False).attacks[0].accuracy
    return {"defence": spec, "batch_norm": batch_norm, "seed": seed, "clean": clean, "pgd20": pgd,
            "collapsed": any("warnings" in record for record in history), "history": history}


def plot(runs: list[dict[str, Any]], spec: str, path: str) -> None:
    """Per-epoch training accuracy, hidden units alive, penalty and the BN statistics gap, one colour per mode."""
    from art_sor.plotting import COLOURS, save_figure, style

    modes = [mode for mode in ("batch", "eval", "frozen") if any(r["batch_norm"] == mode and r["defence"] == spec
                                                                 for r in runs)]
    panels = [("train_accuracy", "training accuracy", False), ("active_hidden", "active hidden ReLUs", False),
              ("penalty", "penalty λ·[gᵀδ + ½δᵀHδ]", False), ("bn_var_ratio", "BN 2: batch var / running var", True)]
    with style() as plt:
        fig, axes = plt.subplots(1, 4, figsize=(14.0, 3.4))
        for ax, (key, title, log) in zip(axes, panels, strict=True):
            for colour, mode in zip(COLOURS, modes, strict=False):
                for index, run in enumerate(r for r in runs if r["batch_norm"] == mode and r["defence"] == spec):
                    values = [record[key][1] if key == "bn_var_ratio" else record[key] for record in run["history"]]
                    ax.plot(range(1, len(values) + 1), values, color=colour, alpha=0.8, linewidth=1,
                            label=mode if index == 0 else None)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            if log:
                ax.set_yscale("log")
                ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
        axes[0].legend(title="batch_norm", loc="lower right")
        fig.suptitle(f"{spec} under SGD + BatchNorm (digits, 4 seeds): batch statistics with gradients (batch), "
                     "running statistics (eval), batch statistics held fixed (frozen)", fontsize=9)
        fig.tight_layout()
        save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--defence", action="append", help="defence spec, repeatable [default: sor]")
    parser.add_argument("--batch-norm", action="append", choices=["batch", "eval", "frozen"],
                        help="statistics of the regularizer's passes, repeatable [default: batch]")
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="append the runs to this JSON file")
    parser.add_argument("--plot", help="draw the runs stored in --json into this PNG, and train nothing")
    args = parser.parse_args()
    if args.plot:
        with open(args.json) as f:
            plot(json.load(f), (args.defence or ["sor"])[0], args.plot)
        return
    torch.set_num_threads(args.threads)
    runs = []
    for spec in args.defence or ["sor"]:
        for batch_norm in args.batch_norm or ["batch"]:
            for seed in map(int, args.seeds.split(",")):
                result = run(spec, batch_norm, seed, args.epochs)
                runs.append(result)
                outcome = (f"diverged {result['diverged']}" if "diverged" in result else
                           f"clean {result['clean']:.3f}, PGD-20 {result['pgd20']:.3f}")
                print(f"{spec:<12} {batch_norm:<7} seed {seed}: {outcome}, collapse warning: {result['collapsed']}",
                      flush=True)
                if args.json:
                    append_json(args.json, result)


if __name__ == "__main__":
    main()
