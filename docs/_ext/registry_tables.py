"""``.. registry-table:: KIND``: a table of the installed datasets, architectures, attacks, defences or recipes.

The docs list what the registries hold at build time, so a new entry point appears without editing the docs.
"""

from __future__ import annotations

import inspect

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

from art_sor.registry import REGISTRIES
from art_sor.runs.recipes import builtin_recipes


def _options(registry, name: str) -> str:
    options = []
    for key, default in registry.options(name).items():
        options.append(f"``{key}``" if default is inspect.Parameter.empty else f"``{key}={default!r}``")
    return ", ".join(options) or "–"


class RegistryTable(SphinxDirective):
    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        kind = self.arguments[0]
        if kind == "recipes":
            rows = [(f"``{name}``", recipe.description) for name, recipe in builtin_recipes().items()]
            header = ("recipe", "what it sets")
        else:
            registry = REGISTRIES[kind]
            with_options = kind in ("attacks", "defences")
            rows = [(f"``{name}``", registry.summary(name), *((_options(registry, name),) if with_options else ()))
                    for name in registry.names()]
            header = (kind[:-1], "what it is", *(("options (defaults)",) if with_options else ()))
        lines = [".. list-table::", "   :header-rows: 1", ""]
        for row in (header, *rows):
            cells = [cell.replace("|", "\\|") for cell in row]  # |x| is a substitution in reST
            lines.append(f"   * - {cells[0]}")
            lines += [f"     - {cell}" for cell in cells[1:]]
        container = nodes.container()
        self.state.nested_parse(StringList(lines), self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("registry-table", RegistryTable)
    return {"parallel_read_safe": True}
