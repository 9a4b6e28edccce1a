"""Inputs, labels and generator batches checked before a classifier sees them, each refusal naming its cause."""

from __future__ import annotations

import numpy as np
import pytest

from art_sor.classifiers.inputs import GeneratorError, check_inputs, generator_batch


def test_complex_inputs_are_refused():
    with pytest.raises(TypeError, match="x holds complex numbers"):
        check_inputs(np.zeros((2, 1, 8, 8), np.complex64), (1, 8, 8))


class Fault:
    def __init__(self, result):
        self.result = result

    def get_batch(self):
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_a_failing_generator_is_named():
    with pytest.raises(GeneratorError, match=r"generator.get_batch\(\) raised OSError: share gone"):
        generator_batch(Fault(OSError("share gone")))
    with pytest.raises(TypeError, match="must return a pair \\(x, y\\), got a tuple of 3 items"):
        generator_batch(Fault((1, 2, 3)))
    assert generator_batch(Fault((1, 2))) == (1, 2)
