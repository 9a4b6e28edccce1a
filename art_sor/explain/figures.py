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


def _colour_bar(fig: Any, image: Any, axes: Any, orientation: str) -> None:
    """A colour scale for a signed map: its range, symmetric about 0, with three ticks."""
    low, high = image.get_clim()
    bar = fig.colorbar(image, cax=axes, orientation=orientation, ticks=[low, 0.0, high])
    bar.ax.tick_params(labelsize=5, length=2, pad=1)
    if orientation == "vertical":
        bar.ax.yaxis.set_ticks_position("left")
    bar.set_ticklabels([f"{low:.2g}", "0", f"{high:.2g}"])


def _caption(caption: str, width: int) -> str:
    """The caption wrapped to ``width`` characters, never between the parts of ``ε = 2``."""
    return textwrap.fill(caption.replace(" = ", "\u00a0=\u00a0"), width=width)


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
        shown = top[1].imshow(s, cmap="seismic", vmin=-limit, vmax=limit)
        top[1].set_title("SmoothGrad", fontsize=7)
        # The scale sits under the map, in the empty cell below it.
        _colour_bar(fig, shown, top[1].inset_axes((0.0, -0.2, 1.0, 0.08)), "horizontal")
        differences = counterfactuals[i] - x[i][None]
        diff_limit = float(np.abs(differences.sum(axis=1)).max()) or 1.0
        for j in range(k):
            reached = counterfactual_predictions[i, j] == j
            top[j + 2].imshow(_image(counterfactuals[i, j]), cmap="gray", vmin=0, vmax=1)
            top[j + 2].set_title(f"→ {short[j]}\npred {short[counterfactual_predictions[i, j]]}", fontsize=7,
                                 color="black" if reached else "#8c8c8c")
            difference = bottom[j + 2].imshow(_signed(differences[j]), cmap="seismic", vmin=-diff_limit,
                                              vmax=diff_limit)
        bottom[0].text(0.5, 0.5, "difference\n(red +, blue −)", ha="center", va="center", fontsize=7,
                       transform=bottom[0].transAxes)
        # One scale for the row's differences, beside the first of them.
        _colour_bar(fig, difference, bottom[1].inset_axes((0.72, 0.0, 0.1, 1.0)), "vertical")
        for ax in (*top, *bottom):
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in bottom[:2]:
            ax.axis("off")
    text = _caption(caption, int(fig.get_figwidth() * 12))
    fig.suptitle(text, fontsize=9)
    # Room for the caption's lines and no more.
    fig.tight_layout(rect=(0, 0, 1, 1 - (0.15 + 0.17 * (text.count("\n") + 1)) / fig.get_figheight()))
    return save_figure(fig, path)


def correction_title(label: int, corrected_prediction: int, class_names: tuple[str, ...]) -> tuple[str, str]:
    """The title and colour of a correction: ``corrected`` only when the model now predicts the true class.

    A failed correction is titled ``not corrected`` and greyed, as failed counterfactuals are in
    :func:`explanation_grid`.
    """
    reached = corrected_prediction == label
    return (f"{'corrected' if reached else 'not corrected'}\npred {class_names[corrected_prediction][:10]}",
            "black" if reached else "#8c8c8c")


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
    # A minimum width and a wrapped caption keep the caption readable when only one or two inputs are wrong; the
    # height follows the rows (constrained layout puts the caption right above them, with no empty band).
    width = max(1.3 * n + 0.4, 4.0)
    text = _caption(caption, int(width * 11))
    fig, axes = plt.subplots(3, n, figsize=(width, 5.6 + 0.2 * text.count("\n")), squeeze=False,
                             layout="constrained")
    for i in range(n):
        difference = _signed(corrected[i] - x[i])
        limit = float(np.abs(difference).max()) or 1.0
        axes[0, i].imshow(_image(x[i]), cmap="gray", vmin=0, vmax=1)
        axes[0, i].set_title(f"true {class_names[labels[i]][:10]}\npred {class_names[predictions[i]][:10]}",
                             fontsize=7, color="#c44e52")
        axes[1, i].imshow(_image(corrected[i]), cmap="gray", vmin=0, vmax=1)
        title, colour = correction_title(labels[i], corrected_predictions[i], class_names)
        axes[1, i].set_title(title, fontsize=7, color=colour)
        shown = axes[2, i].imshow(difference, cmap="seismic", vmin=-limit, vmax=limit)
        axes[2, i].set_title("difference\n(red +, blue −)", fontsize=7)
        _colour_bar(fig, shown, axes[2, i].inset_axes((0.0, -0.16, 1.0, 0.07)), "horizontal")
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(text, fontsize=9)
    return save_figure(fig, path)
