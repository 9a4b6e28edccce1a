"""Figures a person can read: originals, saliency, counterfactuals for each class and their differences."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from art_sor.plotting import save_figure, style


def _image(array: np.ndarray) -> np.ndarray:
    """``(c, h, w)`` to something ``imshow`` takes: ``(h, w)`` for one channel, ``(h, w, c)`` otherwise."""
    return array[0] if array.shape[0] == 1 else np.transpose(array, (1, 2, 0))


def _signed(array: np.ndarray) -> np.ndarray:
    """Sum over channels, for signed maps (saliency, differences)."""
    return array.sum(axis=0)


def explanation_grid(x: np.ndarray, labels: np.ndarray, predictions: np.ndarray, saliency: np.ndarray,
                     counterfactuals: np.ndarray, counterfactual_predictions: np.ndarray,
                     class_names: tuple[str, ...], caption: str, path: str | Path) -> Path:
    """Two rows per input: original, saliency and the counterfactual toward each class; then the differences.

    :param x: Inputs ``(n, c, h, w)`` in ``[0, 1]``.
    :param labels: True classes.
    :param predictions: The model's classes for ``x``.
    :param saliency: Saliency maps, shape of ``x``.
    :param counterfactuals: ``(n, k, c, h, w)``: toward class ``j`` in column ``j``.
    :param counterfactual_predictions: ``(n, k)``: the model's class for each counterfactual.
    :param class_names: Names of the ``k`` classes.
    :param caption: Figure title naming the model, ε and attack.
    :param path: PNG file to write.
    """
    with style() as plt:
        return _explanation_grid(plt, x, labels, predictions, saliency, counterfactuals, counterfactual_predictions,
                                 class_names, caption, Path(path))


def _explanation_grid(plt: Any, x: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                      saliency: np.ndarray, counterfactuals: np.ndarray, counterfactual_predictions: np.ndarray,
                      class_names: tuple[str, ...], caption: str, path: Path) -> Path:
    n, k = counterfactuals.shape[:2]
    columns = k + 2
    fig, axes = plt.subplots(2 * n, columns, figsize=(1.15 * columns, 1.25 * 2 * n + 0.9), squeeze=False)
    short = [name.split("/")[0][:10] for name in class_names]
    for i in range(n):
        top, bottom = axes[2 * i], axes[2 * i + 1]
        colour = "black" if predictions[i] == labels[i] else "#c44e52"
        top[0].imshow(_image(x[i]), cmap="gray", vmin=0, vmax=1)
        top[0].set_title(f"true {short[labels[i]]}\npred {short[predictions[i]]}", fontsize=7, color=colour)
        s = _signed(saliency[i])
        limit = float(np.abs(s).max()) or 1.0
        top[1].imshow(s, cmap="seismic", vmin=-limit, vmax=limit)
        top[1].set_title("SmoothGrad", fontsize=7)
        differences = counterfactuals[i] - x[i][None]
        diff_limit = float(np.abs(differences.sum(axis=1)).max()) or 1.0
        for j in range(k):
            reached = counterfactual_predictions[i, j] == j
            top[j + 2].imshow(_image(counterfactuals[i, j]), cmap="gray", vmin=0, vmax=1)
            top[j + 2].set_title(f"→ {short[j]}\npred {short[counterfactual_predictions[i, j]]}", fontsize=7,
                                 color="black" if reached else "#8c8c8c")
            bottom[j + 2].imshow(_signed(differences[j]), cmap="seismic", vmin=-diff_limit, vmax=diff_limit)
        bottom[0].text(0.5, 0.5, "difference\n(red +, blue −)", ha="center", va="center", fontsize=7,
                       transform=bottom[0].transAxes)
        for ax in (*top, *bottom):
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in bottom[:2]:
            ax.axis("off")
    fig.suptitle(textwrap.fill(caption, width=int(fig.get_figwidth() * 12)), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_figheight()))
    return save_figure(fig, path)


def correction_grid(x: np.ndarray, labels: np.ndarray, predictions: np.ndarray, corrected: np.ndarray,
                    corrected_predictions: np.ndarray, class_names: tuple[str, ...], caption: str,
                    path: str | Path) -> Path:
    """One column per misclassified input: the input, the counterfactual toward its true class, the difference."""
    with style() as plt:
        return _correction_grid(plt, x, labels, predictions, corrected, corrected_predictions, class_names, caption,
                                Path(path))


def _correction_grid(plt: Any, x: np.ndarray, labels: np.ndarray, predictions: np.ndarray, corrected: np.ndarray,
                     corrected_predictions: np.ndarray, class_names: tuple[str, ...], caption: str, path: Path
                     ) -> Path:
    n = len(x)
    # A minimum width and a wrapped caption keep the caption readable when only one or two inputs are wrong.
    width = max(1.3 * n + 0.4, 4.0)
    fig, axes = plt.subplots(3, n, figsize=(width, 4.8), squeeze=False)
    for i in range(n):
        difference = _signed(corrected[i] - x[i])
        limit = float(np.abs(difference).max()) or 1.0
        axes[0, i].imshow(_image(x[i]), cmap="gray", vmin=0, vmax=1)
        axes[0, i].set_title(f"true {class_names[labels[i]][:10]}\npred {class_names[predictions[i]][:10]}",
                             fontsize=7, color="#c44e52")
        axes[1, i].imshow(_image(corrected[i]), cmap="gray", vmin=0, vmax=1)
        axes[1, i].set_title(f"corrected\npred {class_names[corrected_predictions[i]][:10]}", fontsize=7)
        axes[2, i].imshow(difference, cmap="seismic", vmin=-limit, vmax=limit)
        axes[2, i].set_title("difference", fontsize=7)
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(textwrap.fill(caption, width=int(width * 11)), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return save_figure(fig, path)
