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

# Names re-exported by a package (art_sor.data.Dataset, art_sor.runs.reports.Table) are documented at both paths;
# a signature that names one links to either, which Sphinx reports as ambiguous.
suppress_warnings = ["ref.python"]
