"""Cost of one training step of each defence, measured the ways that can be trusted on a shared machine.

For each architecture and defence spec, on CIFAR-shaped synthetic batches (3×32×32, 10 classes, SGD):

* FLOPs per step with ``torch.utils.flop_counter.FlopCounterMode`` (exact and deterministic), as multiples of a
  standard step, beside the pass-count limit of docs/method.rst ("What a step costs");
* milliseconds per step, timed in interleaved rounds (every defence trains ``--steps`` batches in turn, on fresh
  models, ``--threads`` torch threads), the median over rounds, as multiples of standard training's;
* peak memory of one step, each in a fresh process: growth of the peak resident set over the step on CPU (the
  kernel's peak is reset just before it), ``torch.cuda.max_memory_allocated`` growth on CUDA.

Architectures are registry names, or ``wrn-DEPTH-WIDTH`` for a WideResNet of another size (a narrower one keeps
CPU timings short; the table says which was used).

    python benchmarks/step_cost.py --architecture preact-resnet18 --measure flops
    python benchmarks/step_cost.py --architecture preact-resnet18 --measure time --threads 1 --batch-size 32
    python benchmarks/step_cost.py --architecture preact-resnet18 --measure memory --batch-size 64 \\
        --defence standard --defence pgd-at --defence sor --defence "sor;micro_batch_size=16"

A defence may carry step settings after a semicolon (``sor;micro_batch_size=16``, ``pgd-at;amp=true``): they are
the run's :class:`~art_sor.trainers.StepSettings`, not options of the defence.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from art_sor.classifiers.wrapping import wrap_model
from art_sor.core.threat import ThreatModel
from art_sor.models import build_model
from art_sor.models.wide_resnet import WideResNet
from art_sor.registry import DEFENCES
from art_sor.specs import Spec
from art_sor.storage import write_json
from art_sor.trainers import StepSettings

SHAPE, CLASSES = (3, 32, 32), 10
THREAT = ThreatModel(8 / 255, "inf")
# Every defence on art-sor's own loop, and the variants the cost issue names.
DEFAULT_DEFENCES = ("standard", "sor", "sor:hvp=loss_difference", "sor:hvp=loss_difference,h=0.5",
                    "sor:iterations=3,step=frank_wolfe", "sor:iterations=3,step=frank_wolfe,objective=perturbed",
                    "sor:hvp=exact", "gr", "cure", "llr", "pgd-at:steps=2", "pgd-at:steps=3", "pgd-at",
                    "fgsm-rs", "n-fgsm", "gradalign", "elle", "elle-a",
                    "sor-memory")


def pass_limit(spec: Spec) -> float | None:
    """The step's cost in forward passes ``F`` over a standard step's ``3F``, from docs/method.rst's count.

    A forward is ``F``; a backward to the input or to the weights ``F`` more each (``2F`` for both, which the
    standard step needs); a gradient built with its graph and then backpropagated to the weights costs ``6F``.
    ``None`` where the count is not derived (exact Hessian-vector products, ART's trainers).
    """
    # The entry's own defaults, so that the count follows them.
    options = {**DEFENCES.options(spec.name), **dict(spec.options)}
    if spec.name == "standard":
        units = 3.0
    elif spec.name in ("pgd-at", "fgsm-rs", "n-fgsm"):
        steps = int(options["steps"]) if spec.name == "pgd-at" else 1
        units = 2.0 * steps + 3
    elif spec.name == "gradalign":
        # FGSM's input gradient, the gradient at x + η built with its graph, the training pass.
        units = 2.0 + 6.0 + 3.0
    elif spec.name == "elle":
        # FGSM's input gradient, three loss passes backpropagated to the weights, the training pass.
        units = 2.0 + 9.0 + 3.0
    elif spec.name == "elle-a":
        # Between jumps (weight 0, where a fresh trainer starts) the three passes are forward only.
        units = 2.0 + 3.0 + 3.0
    elif spec.name == "sor-memory":
        # A gradient per search step (at x + δ when h = 1; beside the clean one otherwise), the training pass.
        units = 2.0 * int(options["iterations"]) + (2.0 if float(options["h"]) != 1 else 0.0) + 3.0
    elif spec.name == "gr":
        units = 6.0 if options["mode"] == "double_backprop" else 3.0 + 3.0
    elif spec.name == "cure":
        units = 12.0
    elif spec.name == "llr":
        units = 6.0 + 2.0 * int(options["steps"]) + 3
    elif spec.name == "sor":
        hvp, objective = options["hvp"], options["objective"]
        if hvp == "exact":
            return None
        h, lam = float(options["h"]), float(options["lam"])
        search = 2.0 * (int(options["iterations"]) - 1 + bool(options["random_start"]))
        if objective == "perturbed":
            units = (3.0 if abs(1 - lam) > 1e-6 else 2.0) + search + 3
        elif hvp == "loss_difference":
            centre = 3.0 if abs(1 - lam / h ** 2) > 1e-6 else 2.0
            minus = 3.0 if abs(1 / h ** 2 - 1 / h) > 1e-6 else 1.0
            units = centre + search + 3 + minus
        else:
            units = 12.0 + search
    else:
        return None
    return units / 3.0


def build_architecture(name: str) -> torch.nn.Module:
    """A registered architecture, or ``wrn-DEPTH-WIDTH``."""
    if name.startswith("wrn-"):
        depth, width = (int(part) for part in name.removeprefix("wrn-").split("-"))
        return WideResNet(depth, width, SHAPE[0], CLASSES)
    return build_model(name, SHAPE, CLASSES)


def split_label(label: str) -> tuple[str, StepSettings]:
    """The defence spec of a row label and the step settings after its semicolon (the defaults without one)."""
    spec, _, settings = label.partition(";")
    return spec, StepSettings(**dict(Spec.parse(f"step:{settings}").options)) if settings else StepSettings()


def build_trainer(architecture: str, label: str, device: str) -> Any:
    torch.manual_seed(0)
    model = build_architecture(architecture)
    # A small rate: the steps are timed on random labels, where larger ones let CURE diverge within a few rounds.
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    classifier = wrap_model(model, SHAPE, CLASSES, optimizer=optimizer, device=device)
    spec, step_settings = split_label(label)
    return DEFENCES.build(spec, classifier, THREAT, step_settings)


def prepare(trainer: Any, x: Any) -> None:
    """What ``fit`` does before the first step: sor-memory allocates its bank of remembered perturbations there.

    Its first step (from δ = 0) takes the same passes as every later one, so no priming step is needed.
    """
    trainer.check_batches(len(x), len(x))


def batch(batch_size: int, seed: int = 0) -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand((batch_size, *SHAPE), generator=generator).numpy()
    y = torch.randint(0, CLASSES, (batch_size,), generator=generator).numpy()
    return x, y


def step_flops(architecture: str, spec: str, batch_size: int, device: str) -> int:
    trainer = build_trainer(architecture, spec, device)
    x, y = batch(batch_size)
    prepare(trainer, x)
    with FlopCounterMode(display=False) as counter:
        trainer.training_step(x, y, np.arange(len(x)))
    return counter.get_total_flops()


def step_times(architecture: str, specs: list[str], batch_size: int, device: str, rounds: int, steps: int
               ) -> dict[str, float]:
    """Median milliseconds per step of each spec, timed in alternation on fresh models."""
    trainers = {spec: build_trainer(architecture, spec, device) for spec in specs}
    batches = [batch(batch_size, seed) for seed in range(steps)]
    for trainer in trainers.values():  # warm-up: lazy allocations and the optimizer's state
        prepare(trainer, batches[0][0])
        trainer.training_step(*batches[0], np.arange(len(batches[0][0])))
    times: dict[str, list[float]] = {spec: [] for spec in specs}
    for _ in range(rounds):
        for spec, trainer in trainers.items():
            synchronise(device)
            start = time.perf_counter()
            for x, y in batches:
                trainer.training_step(x, y, np.arange(len(x)))
            trainer.check_losses()
            synchronise(device)
            times[spec].append(1000 * (time.perf_counter() - start) / steps)
    return {spec: statistics.median(values) for spec, values in times.items()}


def synchronise(device: str) -> None:
    if device != "cpu" and torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def step_memory(architecture: str, spec: str, batch_size: int, device: str) -> int:
    """Growth of peak memory over one step (run in a fresh process)."""
    trainer = build_trainer(architecture, spec, device)
    x, y = batch(batch_size)
    prepare(trainer, x)
    if trainer.get_classifier().device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        trainer.training_step(x, y, np.arange(len(x)))
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    before = current_rss_bytes()
    with open("/proc/self/clear_refs", "w") as f:  # resets the kernel's peak resident set (VmHWM) to now
        f.write("5")
    trainer.training_step(x, y, np.arange(len(x)))
    return peak_rss_bytes() - before


def memory_in_fresh_process(architecture: str, spec: str, batch_size: int, device: str, threads: int) -> int:
    command = [sys.executable, __file__, "--memory-child", "--architecture", architecture, "--defence", spec,
               "--batch-size", str(batch_size), "--device", device, "--threads", str(threads)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return int(output.strip().splitlines()[-1])


def table(rows: list[dict[str, Any]], measures: list[str]) -> str:
    columns = ["architecture", "defence", "pass limit ×"]
    if "flops" in measures:
        columns += ["GFLOPs/step", "FLOPs ×"]
    if "time" in measures:
        columns += ["ms/step", "time ×"]
    if "memory" in measures:
        columns += ["MiB", "memory ×"]
    keys = {"pass limit ×": "limit", "GFLOPs/step": "gflops", "FLOPs ×": "flops_ratio", "ms/step": "ms",
            "time ×": "time_ratio", "MiB": "mib", "memory ×": "memory_ratio"}
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(keys.get(column, column))
            cells.append("–" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architecture", action="append", help="repeatable [default: preact-resnet18]")
    parser.add_argument("--defence", action="append", help="defence spec, repeatable [default: art-sor's own]")
    parser.add_argument("--measure", default="flops,time,memory", help="comma-separated: flops, time, memory")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="steps per defence per round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    architectures = args.architecture or ["preact-resnet18"]
    specs = args.defence or list(DEFAULT_DEFENCES)
    if args.memory_child:
        print(step_memory(architectures[0], specs[0], args.batch_size, args.device))
        return
    if "standard" not in specs:
        specs = ["standard", *specs]
    measures = args.measure.split(",")
    rows = []
    for architecture in architectures:
        arch_rows = {spec: {"architecture": architecture, "defence": spec, "batch_size": args.batch_size,
                            "limit": pass_limit(Spec.parse(split_label(spec)[0]))} for spec in specs}
        if "flops" in measures:
            for spec in specs:
                arch_rows[spec]["gflops"] = step_flops(architecture, spec, args.batch_size, args.device) / 1e9
                print(f"{architecture} {spec}: {arch_rows[spec]['gflops']:.2f} GFLOPs", file=sys.stderr)
            for row in arch_rows.values():
                row["flops_ratio"] = row["gflops"] / arch_rows["standard"]["gflops"]
        if "time" in measures:
            for spec, ms in step_times(architecture, specs, args.batch_size, args.device, args.rounds,
                                       args.steps).items():
                arch_rows[spec]["ms"] = ms
            for row in arch_rows.values():
                row["time_ratio"] = row["ms"] / arch_rows["standard"]["ms"]
        if "memory" in measures:
            for spec in specs:
                arch_rows[spec]["mib"] = memory_in_fresh_process(architecture, spec, args.batch_size, args.device,
                                                                 args.threads) / 2 ** 20
                print(f"{architecture} {spec}: {arch_rows[spec]['mib']:.0f} MiB", file=sys.stderr)
            for row in arch_rows.values():
                row["memory_ratio"] = row["mib"] / arch_rows["standard"]["mib"]
        rows += arch_rows.values()
    print(table(rows, measures))
    if args.json:
        environment = {"torch": torch.__version__, "threads": args.threads, "device": args.device,
                       "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                       "load_average": os.getloadavg(),
                       "gpu": torch.cuda.get_device_name() if args.device != "cpu" and torch.cuda.is_available()
                       else None}
        write_json(args.json, {"environment": environment, "measures": measures, "rows": rows})
    print(json.dumps({"load_average": os.getloadavg()}), file=sys.stderr)


if __name__ == "__main__":
    main()
