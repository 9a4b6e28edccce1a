"""The shape of the code a newcomer reads: frames from ``art-sor train`` to the step, and the widest signatures.

Two figures, measured the same way before and after a refactoring:

* the call frames from ``art_sor.cli.train.train`` to the first call of a trainer's ``_micro_step``, recorded by a
  profile hook during a tiny ``art-sor train`` run in-process (digits, one epoch of 64 images, standard training):
  every frame, and the frames of art-sor's own code;
* the parameter counts of the widest functions and constructors of ``art_sor`` (``self`` and ``cls`` not counted,
  ``*args`` and ``**kwargs`` counted as one each), read from the source with :mod:`ast`.

    OMP_NUM_THREADS=1 python benchmarks/code_shape.py [--top 10]
    python benchmarks/code_shape.py --no-frames --source /tmp/before/art_sor   # another tree's signatures
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

PACKAGE = Path(__file__).resolve().parent.parent / "art_sor"


def step_frames() -> list[str]:
    """The frames from ``cli/train.train`` to the first ``_micro_step``, outermost first (``module:function``)."""
    from click.testing import CliRunner

    from art_sor.cli import main

    recorded: list[str] = []

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or recorded or frame.f_code.co_name != "_micro_step":
            return
        chain, current = [], frame
        while current is not None:
            path = Path(current.f_code.co_filename)
            module = (str(path.relative_to(PACKAGE.parent).with_suffix("")) if PACKAGE in path.parents
                      else path.stem)
            chain.append(f"{module}:{current.f_code.co_name}")
            if module == "art_sor/cli/train" and current.f_code.co_name == "train":
                recorded.extend(reversed(chain))
                return
            current = current.f_back

    with tempfile.TemporaryDirectory() as folder:
        sys.setprofile(hook)
        try:
            result = CliRunner().invoke(main, ["train", "--dataset", "digits", "--defence", "standard",
                                               "--epochs", "1", "--train-samples", "64", "--batch-size", "32",
                                               "--eval-samples", "10", "--attack-steps", "1", "--quiet",
                                               "--device", "cpu", "--out", folder])
        finally:
            sys.setprofile(None)
    if result.exit_code != 0:
        raise SystemExit(f"art-sor train failed:\n{result.output}{result.exception!r}")
    return recorded


def signatures(package: Path) -> list[tuple[int, str]]:
    """Every function of ``package`` with its parameter count, as ``(count, module:qualname)``, widest first."""
    found: list[tuple[int, str]] = []
    for path in sorted(package.rglob("*.py")):
        module = str(path.relative_to(package.parent).with_suffix(""))
        tree = ast.parse(path.read_text())

        def visit(node: ast.AST, prefix: str, module: str = module) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    args = child.args
                    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
                    count = len([n for n in names if n not in ("self", "cls")])
                    count += (args.vararg is not None) + (args.kwarg is not None)
                    found.append((count, f"{module}:{prefix}{child.name}"))
                    visit(child, f"{prefix}{child.name}.")
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")

        visit(tree, "")
    return sorted(found, key=lambda item: (-item[0], item[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=10, help="How many of the widest functions to list.")
    parser.add_argument("--source", type=Path, default=PACKAGE, help="The art_sor folder whose signatures to read.")
    parser.add_argument("--no-frames", action="store_true", help="Skip the tiny training run.")
    args = parser.parse_args()
    if not args.no_frames:
        frames = step_frames()
        own = [frame for frame in frames if frame.startswith("art_sor/")]
        print(f"Frames from cli/train.train to _micro_step: {len(frames)} in all, {len(own)} in art_sor")
        for frame in own:
            print(f"  {frame}")
    found = signatures(args.source)
    print(f"\nThe {args.top} widest functions of art_sor (parameters, self not counted):")
    for count, name in found[:args.top]:
        print(f"  {count:3d}  {name}")
    print("\nThe widest trainer constructors (art_sor/trainers):")
    for count, name in [item for item in found if "trainers/" in item[1] and item[1].endswith(".__init__")][:8]:
        print(f"  {count:3d}  {name}")


if __name__ == "__main__":
    main()
