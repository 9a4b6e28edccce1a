"""art-sor's built-in architectures, registered in the ``art_sor.architectures`` entry-point group."""

from __future__ import annotations

from torch import nn

from art_sor.models.preact_resnet import PreActResNet18
from art_sor.models.resnet import CifarResNet18
from art_sor.models.small_cnn import SmallCNN
from art_sor.models.wide_resnet import WideResNet


def small_cnn(input_shape: tuple[int, ...], nb_classes: int) -> nn.Module:
    """Two stride-2 convolutions and a 128-unit layer, no batch norm: fast on CPU for digits and MNISTs."""
    return SmallCNN(input_shape[0], nb_classes, input_shape[-1])


def resnet18(input_shape: tuple[int, ...], nb_classes: int) -> nn.Module:
    """ResNet-18, CIFAR layout (3×3 stem, no max-pool); loads the common CIFAR-10 checkpoints."""
    return CifarResNet18(input_shape[0], nb_classes)


def preact_resnet18(input_shape: tuple[int, ...], nb_classes: int) -> nn.Module:
    """Pre-activation ResNet-18 (Wong et al. 2020, Rice et al. 2020), the usual adversarial-training baseline."""
    return PreActResNet18(input_shape[0], nb_classes)


def wide_resnet_28_10(input_shape: tuple[int, ...], nb_classes: int) -> nn.Module:
    """WideResNet-28-10 (36.5M parameters)."""
    return WideResNet(28, 10, input_shape[0], nb_classes)


def wide_resnet_34_10(input_shape: tuple[int, ...], nb_classes: int) -> nn.Module:
    """WideResNet-34-10 (46.2M parameters), the architecture of TRADES and most RobustBench entries."""
    return WideResNet(34, 10, input_shape[0], nb_classes)
