"""Defence factories made from trainer classes, so that a defence's options and defaults are its trainer's."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from art_sor.core.threat import ThreatModel
from art_sor.registry import param_docs


def defence_factory(trainer: type, summary: str) -> Callable[..., Any]:
    """An ``art_sor.defences`` factory ``build(classifier, threat, **options)`` for ``trainer``.

    The options are the trainer's keyword parameters with the trainer's defaults (so each default lives in one
    place); ``eps`` and ``norm`` come from the threat model, and a trainer that takes ``eps`` also accepts an
    ``eps`` option to train at another radius than the one it is evaluated at.

    :param trainer: A trainer class taking ``(classifier, eps, norm, **options)`` or ``(classifier, **options)``.
    :param summary: One line for ``art-sor list defences``.
    """
    parameters = inspect.signature(trainer).parameters
    takes_threat = "eps" in parameters
    options = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for name, p in parameters.items()
               if name not in ("classifier", "eps", "norm")]
    if takes_threat:
        options.append(inspect.Parameter("eps", inspect.Parameter.KEYWORD_ONLY, default=None,
                                         annotation="float | None"))

    def build(classifier: Any, threat: ThreatModel, **kwargs: Any) -> Any:
        if not takes_threat:
            return trainer(classifier, **kwargs)
        eps = kwargs.pop("eps", None)
        return trainer(classifier, eps=threat.eps if eps is None else eps, norm=threat.norm, **kwargs)

    build.__signature__ = inspect.Signature([
        inspect.Parameter("classifier", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("threat", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ThreatModel), *options])
    documented = param_docs(inspect.getdoc(trainer) or "")
    documented["eps"] = "Train at this radius rather than the threat model's (the radius it is evaluated at)."
    params = "\n".join(f":param {p.name}: {documented.get(p.name, '')}" for p in options)
    build.__doc__ = (f"{summary}\n\nOptions and defaults are those of :class:`{trainer.__module__}.{trainer.__name__}`."
                     f"\n\n{params}")
    build.__name__ = build.__qualname__ = trainer.__name__
    return build
