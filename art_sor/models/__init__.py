"""Architectures by name (the ``art_sor.architectures`` registry), or the user's own as ``module:callable``.

An architecture factory is called as ``factory(input_shape, nb_classes)`` with the shape of one sample,
channels first (``(3, 32, 32)`` for CIFAR-10), and returns a freshly initialised ``torch.nn.Module`` that maps a
batch to logits. ``module:callable`` imports ``module`` and calls its ``callable`` the same way, so any model
class or function with that signature can be trained and evaluated by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from torch import nn

from art_sor.registry import ARCHITECTURES, RegistryError


def resolve_architecture(architecture: str) -> Callable[..., Any]:
    """The factory of a registered name, or of ``module:callable``.

    :raises RegistryError: For an unknown name, a module that cannot be imported or a missing callable.
    """
    if ":" not in architecture:
        return ARCHITECTURES.load(architecture)
    module_name, _, attribute = architecture.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise RegistryError(f"architecture {architecture!r}: cannot import {module_name!r} ({error})") from error
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise RegistryError(f"architecture {architecture!r}: {module_name} has no callable {attribute!r}")
    return factory


def build_model(architecture: str, input_shape: tuple[int, ...], nb_classes: int) -> nn.Module:
    """Build a freshly initialised model.

    :param architecture: A registered name (``art-sor list architectures``) or ``module:callable``.
    :param input_shape: Shape of one sample, channels first.
    :param nb_classes: Number of classes.
    :raises RegistryError: If the architecture cannot be found or does not return a ``torch.nn.Module``.
    """
    factory = resolve_architecture(architecture)
    try:
        model = factory(tuple(input_shape), nb_classes)
    except TypeError as error:
        raise RegistryError(f"architecture {architecture!r} cannot be called as factory(input_shape, nb_classes): "
                            f"{error}") from error
    if not isinstance(model, nn.Module):
        raise RegistryError(f"architecture {architecture!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model
