"""Defence factories made from trainer classes, so that a defence's options and defaults are its trainer's."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from art_sor.core.threat import ThreatModel
from art_sor.registry import RegistrySettingError, param_docs
from art_sor.trainers.torch_step import StepSettings


def refuse_step_settings(defence: str, step_settings: StepSettings) -> None:
    """Refuse step settings other than the defaults, for a defence whose trainer does not run art-sor's torch step.

    :raises RegistrySettingError: Naming the first setting that differs from its default.
    """
    changed = step_settings.changed()
    if changed:
        raise RegistrySettingError(f"defence {defence!r} does not support {changed[0]!r}; drop it for this defence "
                                   "(its trainer does not run art-sor's torch step)", changed[0])


def defence_factory(trainer: type, summary: str) -> Callable[..., Any]:
    """An ``art_sor.defences`` factory ``build(classifier, threat, step_settings, **options)`` for ``trainer``.

    The options are the trainer's keyword parameters with the trainer's defaults (so each default lives in one
    place); the threat model and the step settings are supplied, not options. A trainer that takes the threat
    model also accepts an ``eps`` option to train at another radius than the one it is evaluated at; one that
    takes no step settings refuses any but the defaults.

    :param trainer: A trainer class taking ``(classifier, threat, **options)`` or ``(classifier, **options)``, and
                    ``step_settings`` if it runs art-sor's torch step.
    :param summary: One line for ``art-sor list defences``.
    """
    parameters = inspect.signature(trainer).parameters
    takes_threat = "threat" in parameters
    takes_step = "step_settings" in parameters
    options = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for name, p in parameters.items()
               if name not in ("classifier", "threat", "step_settings")]
    if takes_threat:
        options.append(inspect.Parameter("eps", inspect.Parameter.KEYWORD_ONLY, default=None,
                                         annotation="float | None"))

    def build(classifier: Any, threat: ThreatModel, step_settings: StepSettings = StepSettings(),
              **kwargs: Any) -> Any:
        if takes_step:
            kwargs["step_settings"] = step_settings
        else:
            refuse_step_settings(trainer.method, step_settings)
        if not takes_threat:
            return trainer(classifier, **kwargs)
        eps = kwargs.pop("eps", None)
        return trainer(classifier, threat if eps is None else dataclasses.replace(threat, eps=eps), **kwargs)

    build.__signature__ = inspect.Signature([
        inspect.Parameter("classifier", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("threat", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ThreatModel),
        inspect.Parameter("step_settings", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=StepSettings(),
                          annotation=StepSettings), *options])
    documented = param_docs(inspect.getdoc(trainer) or "")
    documented["eps"] = "Train at this radius rather than the threat model's (the radius it is evaluated at)."
    params = "\n".join(f":param {p.name}: {documented.get(p.name, '')}" for p in options)
    build.__doc__ = (f"{summary}\n\nOptions and defaults are those of :class:`{trainer.__module__}.{trainer.__name__}`."
                     f"\n\n{params}")
    build.__name__ = build.__qualname__ = trainer.__name__
    return build
