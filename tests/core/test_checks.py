"""Setting checks: a value of the wrong type is a type error naming the setting, not blamed on its value."""

import numpy as np
import pytest
import torch

from art_sor.core.checks import check_count, check_non_negative, check_positive
from art_sor.core.errors import SettingError, SettingTypeError
from art_sor.core.threat import ThreatModel


def test_a_tensor_eps_is_refused_for_its_type_with_the_fix():
    with pytest.raises(SettingTypeError, match=r"eps must be a number \(int or float\), got Tensor .*float\(") as error:
        ThreatModel(torch.tensor(0.1), "inf")
    assert error.value.setting == "eps" and isinstance(error.value, TypeError)


@pytest.mark.parametrize("check", [check_positive, check_non_negative, check_count])
def test_wrong_types_and_wrong_values_are_told_apart(check):
    for wrong_type in ("1", True, None, torch.tensor(1)):
        with pytest.raises(SettingTypeError, match="lam must be"):
            check(wrong_type, "lam")
    with pytest.raises(SettingError, match="lam must be") as error:
        check(-1, "lam")
    assert not isinstance(error.value, TypeError)
    assert check(np.int64(2), "lam") == 2
