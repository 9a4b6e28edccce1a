"""A run's freshly initialised classifier, from its seed and setup."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from torch import nn

from art_sor.classifiers.wrapping import resolve_device, wrap_model
from art_sor.core.errors import SettingError
from art_sor.data import Dataset
from art_sor.models import build_model, trainable_parameters
from art_sor.runs.training_setup import TrainingSetup
from art_sor.trainers.distributed import DataParallel


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (ART's attacks draw from NumPy's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_run_classifier(data: Dataset, setup: TrainingSetup) -> PyTorchClassifier:
    """A freshly initialised classifier for ``setup``; call it after seeding.

    It has the setup's architecture, optimizer, device and memory format, and (with ``standardise``) the
    training set's per-channel standardisation as ART preprocessing.
    """
    model = build_model(setup.architecture, data.input_shape, data.nb_classes)
    device_type = resolve_device(setup.device)
    if device_type == "gpu":
        torch.backends.cudnn.benchmark = True
    if setup.sync_batch_norm:
        if not DataParallel.current().active:
            raise SettingError("sync_batch_norm: one process already normalises over its whole batch; it takes "
                               "effect only under torchrun with more than one process", "sync_batch_norm")
        if device_type != "gpu":
            raise SettingError("sync_batch_norm: torch's SyncBatchNorm runs on CUDA only; drop it on CPUs",
                               "sync_batch_norm")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if setup.channels_last:
        model = model.to(memory_format=torch.channels_last)
    preprocessing: tuple[Any, Any] = (0.0, 1.0)
    if setup.standardise:
        x = data.x_train
        mean = x.mean(axis=(0, 2, 3), dtype=np.float64).astype(np.float32).reshape(-1, 1, 1)
        std = x.std(axis=(0, 2, 3), dtype=np.float64).astype(np.float32).reshape(-1, 1, 1)
        if not np.all(std > 0):
            constant = [int(c) for c in np.flatnonzero(~(std > 0))]
            raise SettingError(f"standardise: channel(s) {constant} of the training images hold one value "
                               f"throughout ({float(mean.flat[constant[0]]):.6g}), so their std is 0 and standardising "
                               "would divide by zero; check the data, or drop standardise", "standardise")
        preprocessing = (mean, std)
    trainable_parameters(model, setup.architecture)  # refuse a model training could not change, naming it
    return wrap_model(model, data.input_shape, data.nb_classes, optimizer=setup.optimizer.build(model.parameters()),
                      clip_values=data.clip_values, preprocessing=preprocessing, device=setup.device)
