"""Samples per second of data-parallel SOR training with 1 and N processes, and the share spent communicating.

Launch it with torchrun (one thread per process by default):

    python benchmarks/distributed_throughput.py                                   # 1 process
    torchrun --standalone --nproc-per-node 2 benchmarks/distributed_throughput.py # 2 processes (gloo on CPUs)

On GPUs (one per process, NCCL) the same command runs with ``--device cuda``. Each process trains on its shard of
every global batch; throughput is global samples per second of training steps (after ``--warmup`` steps), and
the communication share is the time spent in the gradient all-reduce over the step time, on rank 0.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from json_log import append_json

from art_sor.core.threat import ThreatModel
from art_sor.data import load_dataset
from art_sor.registry import DEFENCES
from art_sor.runs.run_classifier import build_run_classifier, seed_everything
from art_sor.runs.training_setup import TrainingSetup
from art_sor.trainers.distributed import init_from_environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--architecture", default="small-cnn")
    parser.add_argument("--defence", default="sor")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="rank 0 appends its result to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parallel = init_from_environment()
    data = load_dataset(args.dataset)
    setup = TrainingSetup(batch_size=args.batch_size, architecture=args.architecture, device=args.device)
    seed_everything(0)
    trainer = DEFENCES.build(args.defence, build_run_classifier(data, setup), ThreatModel(0.1, "inf"))
    parallel = trainer.parallel
    parallel.broadcast_module(trainer.get_classifier().model)
    order = torch.randperm(len(data.x_train)).numpy()
    elapsed = 0.0
    for step in range(args.warmup + args.steps):
        index = order[step * args.batch_size:(step + 1) * args.batch_size][parallel.shard(args.batch_size)]
        if step == args.warmup:
            parallel.barrier()
            parallel.communication_seconds = 0.0
            start = time.perf_counter()
        trainer.training_step(data.x_train[index], data.y_train[index])
    parallel.barrier()
    elapsed = time.perf_counter() - start
    result = {"processes": parallel.size, "threads_per_process": args.threads, "defence": args.defence,
              "architecture": args.architecture, "global_batch": args.batch_size, "device": args.device,
              "samples_per_second": args.steps * args.batch_size / elapsed,
              "communication_share": parallel.communication_seconds / elapsed}
    if parallel.leader:
        print(json.dumps(result))
        if args.json:
            append_json(args.json, result)


if __name__ == "__main__":
    main()
