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

import torch
from torch import nn

from art_sor.registry import ARCHITECTURES, RegistrySettingError


class ArchitectureError(RegistrySettingError):
    """An architecture that cannot be found, built or trained; it names the ``architecture`` setting."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "architecture")


def resolve_architecture(architecture: str) -> Callable[..., Any]:
    """The factory of a registered name, or of ``module:callable``.

    :raises ArchitectureError: For an unknown name, a module that cannot be imported or a missing callable.
    """
    if ":" not in architecture:
        return ARCHITECTURES.load(architecture)
    module_name, _, attribute = architecture.partition(":")
    if not module_name or not attribute:
        raise ArchitectureError(f"architecture {architecture!r}: give both parts, module:callable (e.g. "
                                "my_models:build), with the module importable from the current folder or PYTHONPATH")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ArchitectureError(f"architecture {architecture!r}: cannot import {module_name!r} ({error})") from error
    except Exception as error:  # the user's module is arbitrary code: a syntax error, or anything it raises
        raise ArchitectureError(f"architecture {architecture!r}: importing {module_name!r} failed with "
                                f"{type(error).__name__}: {error}") from error
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ArchitectureError(f"architecture {architecture!r}: {module_name} has no callable {attribute!r}")
    return factory


def build_model(architecture: str, input_shape: tuple[int, ...], nb_classes: int) -> nn.Module:
    """Build a freshly initialised model.

    :param architecture: A registered name (``art-sor list architectures``) or ``module:callable``.
    :param input_shape: Shape of one sample, channels first.
    :param nb_classes: Number of classes.
    :raises ArchitectureError: If the architecture cannot be found or does not return a ``torch.nn.Module``.
    """
    factory = resolve_architecture(architecture)
    try:
        model = factory(tuple(input_shape), nb_classes)
    except TypeError as error:
        raise ArchitectureError(f"architecture {architecture!r} cannot be called as factory(input_shape, nb_classes): "
                                f"{error}") from error
    except Exception as error:  # the user's factory is arbitrary code
        raise ArchitectureError(f"architecture {architecture!r}: factory(input_shape, nb_classes) raised "
                                f"{type(error).__name__}: {error}") from error
    if not isinstance(model, nn.Module):
        raise ArchitectureError(f"architecture {architecture!r} returned a {type(model).__name__}, not a "
                                "torch.nn.Module")
    if ":" in architecture:
        check_user_model(model, architecture, tuple(input_shape), nb_classes)
    return model


def trainable_parameters(model: nn.Module, architecture: str) -> list[nn.Parameter]:
    """The parameters the optimizer will update: those that require gradients.

    :raises ArchitectureError: If there are none (a model without parameters, or with every one frozen).
    """
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        frozen = sum(1 for _ in model.parameters())
        cause = (f"all its {frozen} parameter tensors have requires_grad=False" if frozen else "it has no parameters")
        raise ArchitectureError(f"architecture {architecture!r}: the model has no trainable parameters ({cause}), so "
                                "training could not change it")
    return parameters


def check_user_model(model: nn.Module, architecture: str, input_shape: tuple[int, ...], nb_classes: int) -> None:
    """Try a user's model on two random float32 inputs in ``[0, 1]`` (on the CPU, in eval mode, without gradients).

    Registered architectures are tested; a user's is checked here, so that its faults surface when it is built,
    naming it, rather than as a traceback from inside training.

    :raises ArchitectureError: If its parameters are not float32, its forward fails, or it does not return one finite
                           logit per class.
    """
    dtypes = {p.dtype for p in model.parameters() if p.dtype.is_floating_point}
    if torch.float16 in dtypes:
        raise ArchitectureError(f"architecture {architecture!r} has float16 parameters, which art-sor does not "
                                "train or evaluate on a CPU; build the model in float32 (for mixed precision on CUDA, "
                                "use the defence's amp option)")
    if dtypes - {torch.float32}:
        other = ", ".join(sorted(str(d).removeprefix("torch.") for d in dtypes - {torch.float32}))
        raise ArchitectureError(f"architecture {architecture!r} has {other} parameters, but the data are float32; "
                                "return the model in float32 (drop .double() / .to(dtype))")
    was_training = model.training
    model.eval()
    device = next(model.parameters(), torch.empty(0)).device
    inputs = torch.rand((2, *input_shape), generator=torch.Generator().manual_seed(0)).to(device)
    try:
        with torch.no_grad():
            output = model(inputs)
    except Exception as error:  # the user's forward is arbitrary code
        raise ArchitectureError(f"architecture {architecture!r} fails on a batch of shape {tuple(inputs.shape)} "
                                f"(the data's input shape {input_shape}): {type(error).__name__}: "
                                f"{str(error).splitlines()[0] if str(error) else ''}") from error
    finally:
        model.train(was_training)
    if not isinstance(output, torch.Tensor):
        raise ArchitectureError(f"architecture {architecture!r} returns a {type(output).__name__}; its forward must "
                                "return the logits as one tensor of shape (batch, classes)")
    if output.dim() != 2 or output.shape[1] != nb_classes:
        raise ArchitectureError(f"architecture {architecture!r} returns outputs of shape {tuple(output.shape[1:])} per "
                                f"sample, but the data have {nb_classes} classes; its last layer must have "
                                f"{nb_classes} outputs (the factory gets nb_classes={nb_classes})")
    if not torch.isfinite(output).all():
        raise ArchitectureError(f"architecture {architecture!r} returns NaN or inf logits for finite inputs; check its "
                                "initialisation and forward")
