"""The tests mirror the package: one folder per room of ``art_sor`` (and the built-in plugins)."""

from __future__ import annotations

import pathlib

import art_sor

TESTS = pathlib.Path(__file__).parent
ROOMS = {path.name for path in pathlib.Path(art_sor.__file__).parent.iterdir()
         if path.is_dir() and any(path.glob("*.py"))} | {"plugins"}
PACKAGE_LEVEL = {"test_layout.py"}  # about the package as a whole


def test_every_test_module_sits_in_the_room_it_tests():
    folders = {path.name for path in TESTS.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders <= ROOMS, sorted(folders - ROOMS)
    assert {path.name for path in TESTS.glob("test_*.py")} == PACKAGE_LEVEL
    names = [path.name for path in TESTS.glob("*/test_*.py")]
    assert len(names) == len(set(names)), "test module names must be unique across rooms"
