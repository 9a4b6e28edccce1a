"""Opt-in (``pytest --integration``): a CIFAR-10 ResNet-18 that nobody here trained, through ``art-sor evaluate``.

The ``pyautoattack`` wheel ships a standard (non-robust) ResNet-18 state_dict (``examples/model_test.pt``, 42 MB)
and the ``foolbox`` wheel ships 20 real CIFAR-10 test images. Both wheels are fetched from PyPI with
``pip download`` into ``<data root>/wheels`` the first time: ``$ART_SOR_DATA`` if set, else a temporary root
(tests never write into ``~/.cache/art-sor``), so set it to keep them between sessions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from art_sor.cli import main
from art_sor.data import data_root


def _wheel(name: str, folder: Path) -> Path:
    found = sorted(folder.glob(f"{name}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), name],
                       check=True)
        found = sorted(folder.glob(f"{name}-*.whl"))
    return found[-1]


@pytest.mark.integration
def test_standard_cifar10_resnet18_is_accurate_not_robust_and_not_obfuscated(tmp_path):
    folder = data_root() / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(_wheel("pyautoattack", folder)) as wheel:
        weights = tmp_path / "model_test.pt"
        weights.write_bytes(wheel.read("pyautoattack/examples/model_test.pt"))
    images = _wheel("foolbox", folder)
    out = tmp_path / "report"
    result = CliRunner().invoke(main, [
        "evaluate", str(weights), "--architecture", "resnet18", "--dataset", "cifar10-foolbox",
        "--data-root", str(images), "--eps", "8/255", "--norm", "inf", "--eval-samples", "20",
        "--attack", "fgsm", "--attack", "pgd", "--attack", "pgd:steps=50,restarts=2", "--attack", "apgd-ce",
        "--attack", "square:queries=300", "--no-geometry", "--quiet", "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    evaluation = json.loads((out / "report.json").read_text())["evaluation"]
    robustness = evaluation["robustness"]
    assert robustness["clean_accuracy"] >= 0.85
    assert robustness["worst_case_accuracy"] <= 0.05
    assert evaluation["obfuscation_suspected"] is False, evaluation["checks"]
