"""Wide residual networks (Zagoruyko & Komodakis 2016), WRN-28-10 and WRN-34-10 as in TRADES and RobustBench.

| Paper link: https://arxiv.org/abs/1605.07146
"""

from __future__ import annotations

import torch
from torch import nn

from art_sor.models.preact_resnet import PreActBlock


class WideResNet(nn.Module):
    """WRN-``depth``-``widen``: three groups of ``(depth − 4)/6`` pre-activation blocks of widths 16·k, 32·k, 64·k.

    :param depth: Total depth, ``6n + 4`` (28 or 34).
    :param widen: Width factor ``k``.
    :param in_channels: Input channels.
    :param nb_classes: Output logits.
    """

    def __init__(self, depth: int = 28, widen: int = 10, in_channels: int = 3, nb_classes: int = 10) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"depth must be 6n + 4, got {depth}")
        blocks = (depth - 4) // 6
        widths = (16, 16 * widen, 32 * widen, 64 * widen)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        groups, planes = [], widths[0]
        for width, stride in zip(widths[1:], (1, 2, 2), strict=True):
            groups.append(nn.Sequential(*(PreActBlock(planes if i == 0 else width, width, stride if i == 0 else 1)
                                          for i in range(blocks))))
            planes = width
        self.block1, self.block2, self.block3 = groups
        self.bn = nn.BatchNorm2d(widths[3])
        self.linear = nn.Linear(widths[3], nb_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits."""
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = torch.relu(self.bn(out))
        return self.linear(torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1))
