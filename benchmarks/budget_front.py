"""Robustness against training compute: each defence's front at fractions of one budget, read from one run.

The protocol of the cheap-robustness issue: every defence trains one run per seed until its training CPU time
reaches the budget (by default five epochs of ``pgd-at``, seven steps, measured once with ``--phase budget``);
the model is kept at the first epoch where its cumulative CPU time crosses each fraction of the budget (12.5 %,
25 %, 50 %, 100 %). Each kept model is evaluated on clean accuracy (all test images), PGD-20 (the first
``--pgd-samples``) and, at ``--autoattack-fractions``, the canonical AutoAttack (the first ``--autoattack-samples``);
the worst case counts a sample as robust only if no attack broke it. Phases, each resumable and each into the
same ``--out``:

    python benchmarks/budget_front.py --phase budget --out runs/front --eps 0.1
    python benchmarks/budget_front.py --phase train --out runs/front --eps 0.1 --defence n-fgsm --defence gradalign
    python benchmarks/budget_front.py --phase evaluate --out runs/front --eps 0.1
    python benchmarks/budget_front.py --phase report --out runs/front --eps 0.1

Training time is the CPU time of the training process (``time.process_time`` over the epoch loop), one thread, so
that it stays fair while other processes share the machine; evaluation is not counted.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

import numpy as np
import torch

from art_sor.classifiers.wrapping import wrap_model
from art_sor.core.threat import ThreatModel
from art_sor.data import load_dataset
from art_sor.evaluation.randomness import seeded
from art_sor.evaluation.robustness import evaluate_attacks
from art_sor.models import build_model
from art_sor.registry import DEFENCES
from art_sor.runs.epoch_hooks import Budget

FRACTIONS = (0.125, 0.25, 0.5, 1.0)
BUDGET_DEFENCE, BUDGET_EPOCHS = "pgd-at", 5


def folder_name(spec: str) -> str:
    """A file-system-safe folder name for a defence spec."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec)


def run_folder(out: Path, spec: str, seed: int) -> Path:
    return out / folder_name(spec) / f"seed{seed}"


def load_data(args: argparse.Namespace):
    data = load_dataset(args.dataset)
    n = args.train_samples or len(data.x_train)
    return data, data.x_train[:n], data.y_train[:n]


def train_run(args: argparse.Namespace, spec: str, seed: int, budget: float | None, max_epochs: int,
              folder: Path) -> Path:
    """Train ``spec`` until ``budget`` CPU seconds (or ``max_epochs``), keeping the model at each fraction's epoch."""
    if (folder / "history.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    data, x, y = load_data(args)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = build_model(args.architecture, data.input_shape, data.nb_classes)
    classifier = wrap_model(model, data.input_shape, data.nb_classes,
                            optimizer=torch.optim.Adam(model.parameters(), lr=args.lr), device="cpu")
    threat = ThreatModel(args.eps, "inf")
    trainer = DEFENCES.build(spec, classifier, threat)
    spent = 0.0
    kept: dict[str, int] = {}
    clock = None if budget is None else Budget(budget, "cpu")  # the budget compare uses, by training CPU time

    def after_epoch(_trainer, record) -> bool:
        nonlocal spent
        spent += record["cpu_seconds"]
        record["cumulative_cpu_seconds"] = spent
        if args.monitor:
            # Outside the epoch's CPU time: the budget counts training only.
            with seeded():
                monitor = evaluate_attacks(classifier, data.x_test[:args.monitor], data.y_test[:args.monitor],
                                           threat, ["pgd:steps=10"], verbose=False)
            record["monitor_pgd10"] = float(monitor.worst_case().mean())
        if clock is None:
            return False
        epochs = [*_trainer.history, record]
        for fraction, epoch in clock.crossings(epochs, FRACTIONS).items():
            if epoch == record["epoch"]:  # this epoch is the first to cross the fraction
                kept[f"{fraction:g}"] = epoch
                torch.save(model.state_dict(), folder / f"model-{fraction:g}.pt")
        return clock.reached(epochs)

    history = trainer.fit(x, y, batch_size=args.batch_size, nb_epochs=max_epochs, verbose=False,
                          epoch_callback=after_epoch)
    if budget is None:
        torch.save(model.state_dict(), folder / "model-final.pt")
    (folder / "history.json").write_text(json.dumps({"spec": spec, "seed": seed, "budget": budget, "kept": kept,
                                                     "config": trainer.config(), "history": history},
                                                    indent=1, default=str))
    return folder


def evaluate_run(args: argparse.Namespace, folder: Path) -> None:
    """Clean, PGD-20 and (at the chosen fractions) the canonical AutoAttack of each kept model of a run."""
    info = json.loads((folder / "history.json").read_text())
    data = load_dataset(args.dataset)
    threat = ThreatModel(args.eps, "inf")
    for key, epoch in info["kept"].items():
        target = folder / f"eval-{key}.json"
        with_autoattack = float(key) in args.autoattack_fractions and info["spec"] in args.autoattack_defences
        if target.exists():
            done = json.loads(target.read_text())
            if done.get("autoattack") is not None or not with_autoattack:
                continue
        model = build_model(args.architecture, data.input_shape, data.nb_classes)
        model.load_state_dict(torch.load(folder / f"model-{key}.pt", weights_only=True))
        model.eval()
        classifier = wrap_model(model, data.input_shape, data.nb_classes, device="cpu")
        clean = float(np.mean(classifier.predict(data.x_test).argmax(axis=1) == data.y_test))
        n = args.pgd_samples
        with seeded():
            pgd = evaluate_attacks(classifier, data.x_test[:n], data.y_test[:n], threat, ["pgd"], verbose=False)
        robust = pgd.worst_case()
        result = {"epoch": epoch, "cumulative_cpu_seconds": info["history"][epoch - 1]["cumulative_cpu_seconds"],
                  "clean": clean, "pgd20": float(robust.mean()), "pgd_samples": n, "autoattack": None}
        if with_autoattack:
            m = args.autoattack_samples
            with seeded():
                aa = evaluate_attacks(classifier, data.x_test[:m], data.y_test[:m], threat, ["autoattack-standard"],
                                      verbose=False)
            result.update(autoattack=float(aa.attacks[0].accuracy), autoattack_samples=m,
                          pgd20_on_autoattack_samples=float(robust[:m].mean()),
                          worst=float((robust[:m] & aa.attacks[0].robust).mean()))
        target.write_text(json.dumps(result, indent=1))
        print(folder, key, result, flush=True)


def mean_std(values: list[float], seeds: int) -> str:
    """``mean ± std`` in percent over seeds, marked with its count where fewer seeds than the row's have it."""
    if not values:
        return ""
    mean = 100 * statistics.fmean(values)
    text = f"{mean:.1f}" if len(values) == 1 else f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}"
    return text if len(values) == seeds else f"{text} ({len(values)} of {seeds} seeds)"


ANCHORS = ("n-fgsm", "gradalign", "elle-a")


def _seeds(count: int) -> str:
    return f"{count} seed{'s' if count > 1 else ''}"


def _stats(values: list[float]) -> tuple[float, float | None]:
    return 100 * statistics.fmean(values), 100 * statistics.stdev(values) if len(values) > 1 else None


def goal_lines(cells: dict[tuple[str, float], dict[str, list[float]]], eps: float) -> list[str]:
    """The issue's two goals, checked from the table's cells: (a) an SOR-family defence at a quarter of the budget
    at least as robust as the best PGD-AT at the full budget; (b) above every single-step anchor at every budget by
    more than one standard deviation of the seeds (the larger of the two rows'). Each on the worst case where both
    sides have AutoAttack on every seed, and on PGD-20 everywhere."""
    lines = [f"# Goals at ε = {eps:g}", ""]
    sor_family = sorted({spec for spec, _ in cells if spec.startswith("sor")})
    for metric in ("worst", "pgd20"):
        def value(spec: str, fraction: float, metric: str = metric) -> list[float] | None:
            cell = cells.get((spec, fraction))
            return cell[metric] if cell and len(cell[metric]) == len(cell["clean"]) and cell[metric] else None
        name = "worst case (AutoAttack and PGD-20)" if metric == "worst" else "PGD-20"
        full = {spec: _stats(v)[0] for spec, _ in cells if spec.startswith("pgd-at") and (v := value(spec, 1.0))}
        if full:
            best = max(full, key=full.get)
            lines.append(f"## (a) on {name}: best PGD-AT at 100 % is {best}, {full[best]:.1f} %")
            for spec in sor_family:
                for fraction in (0.25, 0.5, 1.0):
                    if (v := value(spec, fraction)) is not None:
                        mean = _stats(v)[0]
                        verdict = "met" if mean >= full[best] else "missed"
                        lines.append(f"- {spec} at {100 * fraction:g} % ({_seeds(len(v))}): {mean:.1f} %, {verdict}")
            lines.append("")
        lines += [f"## (b) on {name}: margin over each anchor, against one standard deviation of the seeds", "",
                  "| defence | budget | " + " | ".join(ANCHORS) + " |", "|---|---|" + "---|" * len(ANCHORS)]
        for spec in sor_family:
            for fraction in FRACTIONS:
                if (ours := value(spec, fraction)) is None:
                    continue
                mine, my_sd = _stats(ours)
                verdicts = []
                for anchor in ANCHORS:
                    if (theirs := value(anchor, fraction)) is None:
                        verdicts.append("")
                        continue
                    other, other_sd = _stats(theirs)
                    spread = max(sd for sd in (my_sd, other_sd, 0.0) if sd is not None)
                    verdict = ("met" if mine - other > spread else "missed") if my_sd is not None else "one seed"
                    verdicts.append(f"{mine - other:+.1f} vs {spread:.1f}: {verdict}")
                lines.append(f"| {spec} ({_seeds(len(ours))}) | {100 * fraction:g} % | " + " | ".join(verdicts) + " |")
        lines.append("")
    return lines


def report(args: argparse.Namespace) -> None:
    """Tables (CSV and Markdown) and the robustness-against-compute plot of every finished run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out = Path(args.out)
    measured = json.loads((out / "budget.json").read_text())["cpu_seconds"]
    budget = args.budget or measured
    rows: list[dict[str, object]] = []
    curves: set[str] = set()
    cells: dict[tuple[str, float], dict[str, list[float]]] = {}
    for spec in args.defence or sorted({json.loads(p.read_text())["spec"] for p in out.glob("*/seed*/history.json")}):
        runs = sorted(out.glob(f"{folder_name(spec)}/seed*/history.json"))
        if not runs:
            continue
        per_fraction: dict[str, dict[str, list[float]]] = {}
        for run in runs:
            info = json.loads(run.read_text())
            for key in info["kept"]:
                path = run.parent / f"eval-{key}.json"
                if not path.exists():
                    continue
                result = json.loads(path.read_text())
                cell = per_fraction.setdefault(key, {"clean": [], "pgd20": [], "autoattack": [], "worst": [],
                                                     "epoch": [], "seconds": []})
                cell["clean"].append(result["clean"])
                cell["pgd20"].append(result["pgd20"])
                cell["epoch"].append(result["epoch"])
                cell["seconds"].append(result["cumulative_cpu_seconds"])
                if result.get("autoattack") is not None:
                    cell["autoattack"].append(result["autoattack"])
                    cell["worst"].append(result["worst"])
            curves.add(spec)
        for key in sorted(per_fraction, key=float):
            cell = per_fraction[key]
            seeds = len(cell["clean"])
            rows.append({"defence": spec, "budget": f"{100 * float(key):g} %", "seeds": seeds,
                         "epochs": "/".join(str(e) for e in cell["epoch"]),
                         "CPU s": f"{statistics.fmean(cell['seconds']):.0f}",
                         "clean (%)": mean_std(cell["clean"], seeds), "PGD-20 (%)": mean_std(cell["pgd20"], seeds),
                         "AutoAttack (%)": mean_std(cell["autoattack"], seeds),
                         "worst case (%)": mean_std(cell["worst"], seeds)})
            cells[spec, float(key)] = cell
    header = list(rows[0]) if rows else []
    suffix = f"-eps{args.eps:g}"
    with open(out / f"results{suffix}.csv", "w") as handle:
        handle.write(",".join(header) + "\n")
        for row in rows:
            handle.write(",".join(f'"{row[h]}"' for h in header) + "\n")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in rows]
    (out / f"results{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    goals = goal_lines(cells, args.eps)
    (out / f"goals{suffix}.md").write_text("\n".join(goals) + "\n")
    print("\n".join(goals))

    figure, axis = plt.subplots(figsize=(10, 5.5))
    markers = "osD^v<>pP*Xh"
    colours = plt.get_cmap("tab20").colors
    for index, spec in enumerate(sorted(curves)):
        # One point per budget: the mean over seeds, with one standard deviation either way.
        keys = sorted(key for name, key in cells if name == spec)
        xs = [statistics.fmean(cells[spec, key]["seconds"]) / budget for key in keys]
        ys = [100 * statistics.fmean(cells[spec, key]["pgd20"]) for key in keys]
        spread = [100 * statistics.stdev(cells[spec, key]["pgd20"]) if len(cells[spec, key]["pgd20"]) > 1 else 0.0
                  for key in keys]
        seeds = max(len(cells[spec, key]["pgd20"]) for key in keys)
        axis.errorbar(xs, ys, yerr=spread, marker=markers[index % len(markers)], linestyle="-", capsize=3,
                      label=f"{spec} ({_seeds(seeds)})", color=colours[index % len(colours)],
                      linewidth=2.2 if "memory" in spec else 1.2)
    axis.set_xscale("log", base=2)
    axis.set_xticks([0.125, 0.25, 0.5, 1.0], ["12.5 %", "25 %", "50 %", "100 %"])
    source = (f"{BUDGET_EPOCHS} epochs of {BUDGET_DEFENCE}" if budget == measured
              else f"{budget / measured:.1f} × {BUDGET_EPOCHS} epochs of {BUDGET_DEFENCE}")
    axis.set_xlabel(f"training CPU time, as a share of the budget ({budget:.0f} CPU s = {source})")
    axis.set_ylabel(f"PGD-20 accuracy on the first {args.pgd_samples} test images (%, mean ± std)")
    axis.set_title(f"{args.dataset}, L∞ ε = {args.eps:g}: robustness against training compute")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    figure.savefig(out / f"front{suffix}.png", dpi=120)
    plt.close(figure)

    monitored = {spec: [json.loads(run.read_text())["history"]
                        for run in sorted(out.glob(f"{folder_name(spec)}/seed*/history.json"))]
                 for spec in curves}
    monitored = {spec: [history for history in runs if all("monitor_pgd10" in record for record in history)]
                 for spec, runs in monitored.items()}
    monitored = {spec: runs for spec, runs in monitored.items() if runs}
    if monitored:
        figure, axis = plt.subplots(figsize=(10, 5.5))
        order = sorted(curves)  # the front plot's colours and markers, defence by defence
        for spec, runs in sorted(monitored.items()):
            index = order.index(spec)
            for seed, history in enumerate(runs):
                axis.plot([r["epoch"] for r in history], [100 * r["monitor_pgd10"] for r in history],
                          color=colours[index % len(colours)], marker=markers[index % len(markers)], markersize=3,
                          label=spec if seed == 0 else None, linewidth=2.2 if "memory" in spec else 1.2)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel(f"PGD-10 accuracy on the first {args.monitor or 'N'} test images (%)")
        axis.set_title(f"{args.dataset}, L∞ ε = {args.eps:g}: PGD-10 after every epoch (a collapse is "
                       "catastrophic overfitting)", fontsize=11)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
        figure.tight_layout()
        figure.savefig(out / f"epochs{suffix}.png", dpi=120)
        plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=["budget", "train", "evaluate", "report"], required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--architecture", default="small-cnn")
    parser.add_argument("--train-samples", type=int, default=20000)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--defence", action="append", help="defence spec, repeatable")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--budget", type=float, help="CPU seconds [default: read from --phase budget's budget.json]")
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--pgd-samples", type=int, default=1000)
    parser.add_argument("--autoattack-samples", type=int, default=500)
    parser.add_argument("--autoattack-fractions", default="0.25,0.5,1", help="fractions evaluated with AutoAttack")
    parser.add_argument("--autoattack-defence", action="append", dest="autoattack_defences", default=[],
                        help="defences evaluated with AutoAttack [default: none]")
    parser.add_argument("--monitor", type=int, default=0,
                        help="PGD-10 on this many leading test images after every epoch [default: none]")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.autoattack_fractions = [float(f) for f in args.autoattack_fractions.split(",") if f]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]

    if args.phase == "budget":
        folder = train_run(args, BUDGET_DEFENCE, 0, None, BUDGET_EPOCHS, out / "budget-run")
        history = json.loads((folder / "history.json").read_text())["history"]
        seconds = sum(r["cpu_seconds"] for r in history)
        (out / "budget.json").write_text(json.dumps({"defence": BUDGET_DEFENCE, "epochs": BUDGET_EPOCHS,
                                                     "cpu_seconds": seconds, "threads": args.threads}))
        print(f"budget: {seconds:.1f} CPU s")
        return
    budget = args.budget or json.loads((out / "budget.json").read_text())["cpu_seconds"]
    if args.phase == "train":
        for spec in args.defence:
            for seed in seeds:
                folder = train_run(args, spec, seed, budget, args.max_epochs, run_folder(out, spec, seed))
                info = json.loads((folder / "history.json").read_text())
                print(spec, seed, "epochs", len(info["history"]), "kept", info["kept"], flush=True)
    elif args.phase == "evaluate":
        specs = args.defence or sorted({json.loads(p.read_text())["spec"] for p in out.glob("*/seed*/history.json")})
        for spec in specs:
            for folder in sorted(out.glob(f"{folder_name(spec)}/seed*")):
                if (folder / "history.json").exists():
                    evaluate_run(args, folder)
    else:
        report(args)


if __name__ == "__main__":
    main()
