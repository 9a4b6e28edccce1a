"""The package as a whole: the tests mirror it (one folder per room, one module per top-level module), and its
public names import from ``art_sor``."""

from __future__ import annotations

import pathlib

import art_sor
from art_sor.core.threat import ThreatModel

TESTS = pathlib.Path(__file__).parent
PACKAGE = pathlib.Path(art_sor.__file__).parent
ROOMS = {path.name for path in PACKAGE.iterdir() if path.is_dir() and any(path.glob("*.py"))} | {"plugins"}
# test_layout.py is about the package as a whole; test_<module>.py tests art_sor/<module>.py.
PACKAGE_LEVEL = {"test_layout.py"} | {f"test_{path.stem}.py" for path in PACKAGE.glob("*.py")
                                     if not path.name.startswith("_")}


def test_every_test_module_sits_in_the_room_it_tests():
    folders = {path.name for path in TESTS.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders <= ROOMS, sorted(folders - ROOMS)
    assert {path.name for path in TESTS.glob("test_*.py")} <= PACKAGE_LEVEL, sorted(
        {path.name for path in TESTS.glob("test_*.py")} - PACKAGE_LEVEL)
    names = [path.name for path in TESTS.glob("*/test_*.py")]
    assert len(names) == len(set(names)), "test module names must be unique across rooms"


def test_threat_model_is_public():
    from art_sor import ThreatModel as Public

    assert Public is ThreatModel and "ThreatModel" in art_sor.__all__
    assert Public.__module__ == "art_sor.core.threat"
