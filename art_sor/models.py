"""Model architectures by name, so that checkpoints can be rebuilt from a name and a dataset's shape."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class SmallCNN(nn.Sequential):
    """Two stride-2 3×3 convolutions (32 and 64 channels) and a 128-unit hidden layer.

    It suits 28×28 Fashion-MNIST and 8×8 digits alike. Strided convolutions rather than max-pooling: on CPU,
    max-pooling NCHW tensors dominated the cost of every defence (this net trains about 3× faster than the
    max-pooled one, for standard training and SOR alike, at similar accuracy).

    :param in_channels: Input channels.
    :param nb_classes: Output logits.
    :param image_size: Height (= width) of the input.
    """

    def __init__(self, in_channels: int = 1, nb_classes: int = 10, image_size: int = 28) -> None:
        side = (image_size + 3) // 4
        super().__init__(
            nn.Conv2d(in_channels, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Linear(128, nb_classes),
        )


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with an identity (or 1×1 conv-BN) shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block output."""
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet18(nn.Module):
    """ResNet-18 for 32×32 inputs (3×3 stem, no max-pool), the layout of the common CIFAR-10 reference models.

    Its parameter names (``conv1``, ``bn1``, ``layer1``–``layer4``, ``linear``) match those checkpoints, so their
    ``state_dict`` loads directly.
    """

    def __init__(self, in_channels: int = 3, nb_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        planes, layers = 64, []
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers.append(nn.Sequential(BasicBlock(planes, width, stride), BasicBlock(width, width, 1)))
            planes = width
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.linear = nn.Linear(512, nb_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits."""
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1))


ARCHITECTURES: dict[str, Callable[[tuple[int, ...], int], nn.Module]] = {
    "small-cnn": lambda input_shape, nb_classes: SmallCNN(input_shape[0], nb_classes, input_shape[-1]),
    "cifar-resnet18": lambda input_shape, nb_classes: CifarResNet18(input_shape[0], nb_classes),
}


def build_model(architecture: str, input_shape: tuple[int, ...], nb_classes: int) -> nn.Module:
    """Build a freshly initialised model.

    :param architecture: A key of :data:`ARCHITECTURES`.
    :param input_shape: ``(channels, height, width)``.
    :param nb_classes: Number of classes.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, got {architecture!r}")
    return ARCHITECTURES[architecture](tuple(input_shape), nb_classes)
