"""Plot what ``--log-dir`` logged, read back from the TensorBoard event files (no TensorBoard server, no display).

Every run folder under LOG_DIR (one per model: ``standard``, ``sor``, ``sor/seed-0``, ...) becomes one line per
panel; each panel is one per-epoch scalar (``train/...``), and the last panel the final evaluation (``eval/...``
accuracies at the last epoch). It checks what tracking wrote as a reader of the logs would see it.

    art-sor train --epochs 5 --log-dir runs/tb --out runs/train
    python benchmarks/tracking_plot.py runs/tb --out docs/results/tracking/tracking.png
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from art_sor.plotting import COLOURS, save_figure, style

# Panels in reading order; other train/ scalars follow alphabetically.
ORDER = ["loss", "clean_loss", "penalty", "first_order", "second_order", "train_accuracy", "validation_accuracy",
         "monitor_robust_accuracy", "validation_robust_accuracy", "learning_rate", "seconds", "cpu_seconds"]
ACCURACIES = {"train_accuracy", "validation_accuracy", "monitor_robust_accuracy", "validation_robust_accuracy"}
TITLES = {"loss": "loss (the trained objective)", "penalty": "penalty", "first_order": "penalty: first-order part",
          "second_order": "penalty: second-order part", "train_accuracy": "training accuracy (%, epoch mean)",
          "seconds": "wall seconds per epoch", "cpu_seconds": "CPU seconds per epoch"}
FINAL_FIRST = ["eval/clean_accuracy", "eval/attacked_clean_accuracy"]
FINAL_LABELS = {"clean_accuracy": "clean (all test images)", "attacked_clean_accuracy": "clean (attacked images)",
                "worst_case_accuracy": "worst case"}


def read_runs(log_dir: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Scalars of every run folder under ``log_dir``: run name → tag → ``[(step, value)]``."""
    runs = {}
    for folder in sorted({path.parent for path in log_dir.rglob("events.out.tfevents.*")}):
        events = EventAccumulator(str(folder))
        events.Reload()
        runs[str(folder.relative_to(log_dir))] = {
            tag: [(event.step, event.value) for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    return runs


def plot(runs: dict[str, dict[str, list[tuple[int, float]]]], path: Path, title: str) -> None:
    """One panel per per-epoch scalar, one line per run, and a bar panel of the final accuracies."""
    names = {tag.removeprefix("train/") for scalars in runs.values() for tag in scalars if tag.startswith("train/")}
    panels = [n for n in ORDER if n in names] + sorted(names - set(ORDER))
    logged = list(dict.fromkeys(tag for scalars in runs.values() for tag in scalars
                                if tag.startswith("eval/") and "accuracy" in tag))
    # Clean first, the attacks in the order they ran, the worst case last.
    finals = ([t for t in FINAL_FIRST if t in logged] + [t for t in logged if t.startswith("eval/accuracy/")]
              + [t for t in logged if t == "eval/worst_case_accuracy"])
    columns = 4
    rows = math.ceil((len(panels) + bool(finals)) / columns)
    with style() as plt:
        fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
        flat = list(axes.flat)
        for ax, name in zip(flat, panels, strict=False):
            for index, (run, scalars) in enumerate(runs.items()):
                points = scalars.get(f"train/{name}")
                if points:
                    steps, values = zip(*points, strict=True)
                    scale = 100 if name in ACCURACIES else 1
                    ax.plot(steps, [scale * v for v in values], marker="o", markersize=3,
                            color=COLOURS[index % len(COLOURS)], label=run)
            ax.set_title(TITLES.get(name, name.replace("_", " ") + (" (%)" if name in ACCURACIES else "")))
            ax.set_xlabel("epoch")
            low, high = ax.get_ylim()
            if low >= 0 or math.isclose(low, high):  # a constant learning rate reads as constant from zero
                ax.set_ylim(0, max(high, 1e-12) * 1.05)
            ax.xaxis.get_major_locator().set_params(integer=True)
        if finals:
            ax = flat[len(panels)]
            width = 0.8 / max(1, len(runs))
            for index, (run, scalars) in enumerate(runs.items()):
                values = [100 * scalars[tag][-1][1] if tag in scalars else math.nan for tag in finals]
                bars = ax.bar([i + index * width for i in range(len(finals))], values, width=width,
                              color=COLOURS[index % len(COLOURS)], label=run)
                ax.bar_label(bars, fmt="%.0f", fontsize=7)
            labels = [FINAL_LABELS.get(tag.removeprefix("eval/"), tag.removeprefix("eval/accuracy/").replace("_", " "))
                      for tag in finals]
            ax.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(finals))], labels, rotation=30,
                          ha="right")
            ax.set_ylim(0, 108)
            ax.set_title("final evaluation: accuracy (%)")
            ax.grid(axis="x", visible=False)
        for ax in flat[len(panels) + bool(finals):]:
            ax.set_visible(False)
        handles, labels = flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=len(labels), bbox_to_anchor=(0.5, 1.0),
                   frameon=False)
        fig.suptitle(title, y=1.04)
        fig.tight_layout()
        save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log_dir", type=Path, help="The --log-dir of a train or compare run.")
    parser.add_argument("--out", type=Path, default=Path("tracking.png"))
    parser.add_argument("--title", default="art-sor runs logged to TensorBoard (read back with EventAccumulator)")
    args = parser.parse_args()
    runs = read_runs(args.log_dir)
    if not runs:
        parser.error(f"log_dir: no TensorBoard event files under {args.log_dir}")
    plot(runs, args.out, args.title)
    print(f"{len(runs)} runs: {', '.join(runs)} -> {args.out}")


if __name__ == "__main__":
    main()
