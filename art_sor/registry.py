"""One registry mechanism for datasets, architectures, attacks and defences: entry-point groups.

Every entry, art-sor's own included, is a factory declared in a group of ``[project.entry-points]``; a third
party adds one by declaring an entry point and nothing else. A registry lists its entries, builds one from a
:class:`~art_sor.specs.Spec` after checking the spec's options against the factory's signature, and gives the
first line of each factory's docstring for ``--help``, ``art-sor list`` and the docs.

============================  ==============================================================================
group                         factory
============================  ==============================================================================
``art_sor.datasets``          ``build(root, download, **options) -> art_sor.data.Dataset``
``art_sor.architectures``     ``build(input_shape, nb_classes, **options) -> torch.nn.Module``
``art_sor.attacks``           ``build(classifier, threat, batch_size, **options) -> PreparedAttack``
``art_sor.defences``          ``build(classifier, threat, step_settings, **options) -> trainer with fit(...)``
============================  ==============================================================================
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from art_sor.core.errors import SettingError
from art_sor.specs import Spec


class RegistryError(ValueError):
    """An unknown entry, or options its factory does not take; the message names both."""


class RegistrySettingError(RegistryError, SettingError):
    """A registry error about one setting.

    An architecture that cannot be built or trained, or a setting supplied beside a spec that its entry does not
    take, or that its spec sets too.

    :ivar setting: The setting's Python name (``architecture``, ``root``, ``amp``).
    """


@dataclass(frozen=True)
class Registry:
    """The entries of one entry-point group.

    :param kind: What an entry is, for messages (``"defence"``).
    :param group: The entry-point group.
    :param supplied: Parameters the caller supplies, which a spec may not set.
    """

    kind: str
    group: str
    supplied: tuple[str, ...]

    def entries(self) -> dict[str, EntryPoint]:
        """Every installed entry, by name; an entry's code is imported only when it is loaded."""
        return {ep.name: ep for ep in sorted(entry_points(group=self.group), key=lambda ep: ep.name)}

    def names(self) -> list[str]:
        """The installed names, sorted."""
        return list(self.entries())

    def load(self, name: str) -> Callable[..., Any]:
        """The factory of ``name``.

        :raises RegistryError: If no such entry is installed.
        """
        entries = self.entries()
        if name not in entries:
            raise RegistryError(f"unknown {self.kind} {name!r}; installed: {', '.join(entries)}")
        return entries[name].load()

    def summary(self, name: str) -> str:
        """The first line of the factory's docstring."""
        doc = inspect.getdoc(self.load(name)) or ""
        return doc.splitlines()[0] if doc else ""

    def option_docs(self, name: str) -> dict[str, str]:
        """Each option's ``:param`` text in the factory's docstring (``""`` for an undocumented one)."""
        documented = param_docs(inspect.getdoc(self.load(name)) or "")
        return {key: documented.get(key, "") for key in self.options(name)}

    def options(self, name: str) -> dict[str, Any]:
        """The options a spec may set, with their defaults (``inspect.Parameter.empty`` when required)."""
        parameters = inspect.signature(self.load(name)).parameters
        return {key: p.default for key, p in parameters.items()
                if key not in self.supplied and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}

    def check(self, spec: Spec | str) -> Spec:
        """Parse ``spec`` and check that its entry exists and takes its options.

        :raises RegistryError: For an unknown entry or option.
        """
        spec = Spec.of(spec)
        factory = self.load(spec.name)
        parameters = inspect.signature(factory).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        given = [key for key, _ in spec.options]
        unknown = [key for key in given if key in self.supplied or (key not in parameters and not takes_any)]
        if unknown:
            raise RegistryError(f"{self.kind} {spec.name!r} takes no option {', '.join(map(repr, unknown))}; it "
                                f"takes {', '.join(self.options(spec.name)) or 'none'}")
        return spec

    def build(self, spec: Spec | str, *supplied: Any, **settings: Any) -> Any:
        """Check ``spec`` and call its factory with the ``supplied`` arguments, the spec's options and ``settings``.

        ``settings`` are options the caller sets for every entry (a run's ``amp``, say): an entry that does not take
        one refuses it, so that a setting never goes unused, and a spec may not set it too.

        :raises RegistryError: For an unknown entry or option, a setting the entry does not take, or a setting the
                               spec also sets.
        """
        spec = self.check_settings(spec, settings)
        return self.load(spec.name)(*supplied, **dict(spec.options), **settings)

    def takes(self, name: str, parameter: str) -> bool:
        """Whether the factory of ``name`` has a parameter ``parameter`` (a supplied one included)."""
        return parameter in inspect.signature(self.load(name)).parameters

    def check_settings(self, spec: Spec | str, settings: dict[str, Any]) -> Spec:
        """Check ``spec`` and that its entry takes every one of ``settings`` and its spec sets none of them.

        :raises RegistrySettingError: Naming the setting, for an entry that does not take it or a spec that also
                                         sets it.
        """
        spec = self.check(spec)
        for key in settings:
            if not self.takes(spec.name, key):
                raise RegistrySettingError(f"{self.kind} {spec.name!r} does not support {key!r}; drop it for "
                                              f"this {self.kind} (it takes "
                                              f"{', '.join(self.options(spec.name)) or 'no options'})", key)
            if key in dict(spec.options):
                raise RegistrySettingError(f"{key!r} is set both by the run and by the {self.kind} spec "
                                              f"{spec.label!r}; set it once", key)
        return spec


_PARAM = re.compile(r":param (\w+):\s*(.*)")


def param_docs(doc: str) -> dict[str, str]:
    """The ``:param name: text`` entries of a reST docstring, continuation lines joined, by name."""
    docs: dict[str, str] = {}
    current = None
    for line in doc.splitlines():
        match = _PARAM.match(line.strip())
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current is not None and line.startswith(" ") and line.strip():
            docs[current] += " " + line.strip()
        else:
            current = None
    return docs


DATASETS = Registry("dataset", "art_sor.datasets", ("root", "download"))
"""A dataset factory takes ``root`` (the data folder) and ``download`` only if it reads them; giving either to
one that does not is refused."""
ARCHITECTURES = Registry("architecture", "art_sor.architectures", ("input_shape", "nb_classes"))
ATTACKS = Registry("attack", "art_sor.attacks", ("classifier", "threat", "batch_size"))
DEFENCES = Registry("defence", "art_sor.defences", ("classifier", "threat", "step_settings"))
REGISTRIES = {"datasets": DATASETS, "architectures": ARCHITECTURES, "attacks": ATTACKS, "defences": DEFENCES}
