"""The training arrays of a run: the first ``train_samples``, with best-robust's validation split held out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from art_sor.core.errors import SettingError
from art_sor.data import Dataset
from art_sor.runs.training_setup import TrainingSetup


@dataclass
class SplitData:
    """The arrays a run trains on, and the held-out validation split that picks the best epoch."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_validation: np.ndarray = field(default_factory=lambda: np.empty(0))
    y_validation: np.ndarray = field(default_factory=lambda: np.empty(0))


def split_training_data(data: Dataset, setup: TrainingSetup) -> SplitData:
    """The training images of ``setup``: for ``best-robust`` the last ``validation_samples`` are held out."""
    x, y = data.x_train, data.y_train
    if len(x) == 0:
        raise SettingError(f"dataset {data.name} has no training split (it is for evaluation only)", "dataset")
    split = SplitData(x, y)
    if setup.select == "best-robust":
        if setup.validation_samples >= len(x):
            raise SettingError(f"validation_samples {setup.validation_samples} must be below the {len(x)} training "
                               "images", "validation_samples")
        held = len(x) - setup.validation_samples
        split = SplitData(x[:held], y[:held], x[held:], y[held:])
    if setup.train_samples is not None:
        if setup.train_samples > len(split.x_train):
            held = (f" after holding out the last {setup.validation_samples} for best-robust"
                    if setup.select == "best-robust" else "")
            raise SettingError(f"train_samples {setup.train_samples} exceeds the {len(split.x_train)} training "
                               f"images of {data.name}{held}; pass at most {len(split.x_train)}", "train_samples")
        split.x_train, split.y_train = split.x_train[:setup.train_samples], split.y_train[:setup.train_samples]
    return split
