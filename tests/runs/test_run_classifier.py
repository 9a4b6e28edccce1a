"""The classifier a run trains: built from the training setup, refusing a standardisation it cannot do."""

from __future__ import annotations

import numpy as np
import pytest

from art_sor.runs.training import build_run_classifier
from art_sor.runs.training_setup import TrainingSetup


def test_zero_std_with_standardise_names_the_cause(digits):
    data = type(digits)("zeros", np.zeros_like(digits.x_train[:50]), digits.y_train[:50], digits.x_test[:10],
                        digits.y_test[:10], digits.class_names)
    setup = TrainingSetup(epochs=1, batch_size=10, standardise=True, device="cpu")
    with pytest.raises(ValueError, match=r"standardise: channel\(s\) \[0\].*std is 0"):
        build_run_classifier(data, setup)
