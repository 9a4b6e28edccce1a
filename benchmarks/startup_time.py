"""How long ``art-sor --help`` and ``--version`` take, and how much memory, for one or more source trees side by side.

Each command runs in a fresh process with an explicit environment (one thread, no user site, the tree's sources
first on ``PYTHONPATH``); trees are interleaved so that the machine's load falls on all of them alike. Memory is
the process's peak resident set (``wait4``'s ``ru_maxrss``); this script imports nothing heavy itself,
since a forked child's peak counts the parent's memory until it execs.

    git worktree add /tmp/before <old commit>
    python benchmarks/startup_time.py --tree /tmp/before --tree . --repeats 5 --json startup.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--help"], ["--version"], ["train", "--help"])


def environment(tree: Path) -> dict[str, str]:
    """The explicit environment of one run: the tree's sources, one thread, nothing from the caller's settings."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONPATH": f"{tree / 'plugins'}{os.pathsep}{tree}", "PYTHONNOUSERSITE": "1", "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LC_ALL": "C.UTF-8"}


def run_once(tree: Path, arguments: list[str]) -> tuple[float, float]:
    """Seconds and peak MiB of ``python -m art_sor.cli ARGUMENTS`` in ``tree``."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "art_sor.cli", *arguments], env=environment(tree),
                               cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{tree}: art-sor {' '.join(arguments)} failed: {process.stderr.read().decode()[-500:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", type=Path, required=True, help="source tree (repeatable)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.tree]
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    load = os.getloadavg()
    for _ in range(args.repeats):
        for arguments in COMMANDS:
            for tree in trees:
                samples.setdefault((str(tree), " ".join(arguments)), []).append(run_once(tree, arguments))
    rows = [{"tree": tree, "command": f"art-sor {command}",
             "median_seconds": statistics.median(s for s, _ in runs), "max_seconds": max(s for s, _ in runs),
             "peak_mib": max(m for _, m in runs)} for (tree, command), runs in samples.items()]
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; "
          f"{args.repeats} runs each, interleaved")
    print(f"{'command':<22} {'tree':<40} {'median s':>9} {'max s':>7} {'peak MiB':>9}")
    for row in sorted(rows, key=lambda r: (r["command"], trees.index(Path(r["tree"])))):
        print(f"{row['command']:<22} {row['tree'][-40:]:<40} {row['median_seconds']:>9.3f} {row['max_seconds']:>7.3f} "
              f"{row['peak_mib']:>9.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_average": load, "cpus": os.cpu_count(), "repeats": args.repeats,
                                               "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
