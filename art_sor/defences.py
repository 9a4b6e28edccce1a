"""Defences by name, discovered through the ``art_sor.defences`` entry-point group.

A defence is a factory ``build(classifier, threat, **options) -> Trainer``: it takes the ART classifier to train
(with its optimizer), the :class:`ThreatModel` and the defence's own hyperparameters, and returns an object with
``fit(x, y, validation_data=None, batch_size=..., nb_epochs=..., verbose=..., checkpoint_dir=..., resume=...)``
that returns a per-epoch history. A third-party package adds a defence by declaring an entry point in that
group; art-sor itself never imports the packages that provide them.

On the command line a defence is written ``name`` or ``name:key=value,key=value``, e.g. ``sor:iterations=3``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from art_sor.core.checks import check_positive
from art_sor.core.norms import Norm, norm_label, parse_norm
from art_sor.specs import Spec

ENTRY_POINT_GROUP = "art_sor.defences"

DefenceFactory = Callable[..., Any]


@dataclass(frozen=True)
class ThreatModel:
    """The perturbation budget a defence trains for and attacks evaluate at."""

    eps: float
    norm: Norm

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", check_positive(self.eps, "eps"))
        object.__setattr__(self, "norm", parse_norm(self.norm))

    @property
    def label(self) -> str:
        """The budget for people to read, e.g. ``"L∞ ε = 0.1"``."""
        return f"{norm_label(self.norm)} ε = {self.eps:g}"


def available_defences() -> dict[str, EntryPoint]:
    """Every installed defence, by name; an entry point is imported only when its defence is built."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def defence_summary(name: str) -> str:
    """First line of the defence factory's docstring."""
    doc = inspect.getdoc(_load(name)) or ""
    return doc.splitlines()[0] if doc else ""


def _load(name: str) -> DefenceFactory:
    defences = available_defences()
    if name not in defences:
        raise ValueError(f"unknown defence {name!r}; installed: {', '.join(sorted(defences))}")
    return defences[name].load()


def build_trainer(spec: Spec | str, classifier: Any, threat: ThreatModel) -> Any:
    """Build the trainer of a defence spec for ``classifier``.

    :raises ValueError: For an unknown defence, or an option the defence does not take.
    """
    spec = Spec.parse(spec) if isinstance(spec, str) else spec
    factory = _load(spec.name)
    options = dict(spec.options)
    parameters = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [key for key in options if key not in parameters and not takes_any]
    if unknown or {"classifier", "threat"} & set(options):
        accepted = [p for p in parameters if p not in ("classifier", "threat")]
        raise ValueError(f"defence {spec.name!r} takes no option {unknown or sorted(options)}; "
                         f"it takes {accepted}")
    return factory(classifier, threat, **options)
