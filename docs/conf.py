"""Sphinx configuration for art-sor."""

import sys
from pathlib import Path

import art_sor

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "art-sor"
author = "art-sor developers"
release = art_sor.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode", "sphinx.ext.mathjax",
              "sphinx_click", "registry_tables"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
nitpicky = False
html_theme = "alabaster"
exclude_patterns = ["_build"]
