"""pyrodisent.validation: one wording for every number and integer check."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from pyrodisent.engine.config import ConfigError
from pyrodisent.validation import check_int, check_number, check_weight


def test_numbers():
    assert check_number("lr", 1e-3, 0, exclusive_minimum=True) == 1e-3
    assert check_number("rho", np.float32(0.5), 0, 1, exclusive_maximum=True) == 0.5
    assert check_number("x", torch.tensor(2)) == 2.0 and isinstance(check_weight("beta", 6), float)
    with pytest.raises(ValueError, match=r"lr must be > 0, got 0.0"):
        check_number("lr", 0, 0, exclusive_minimum=True)
    with pytest.raises(ValueError, match=r"rho must be in \[0, 1\), got 1.0"):
        check_number("rho", 1.0, 0, 1, exclusive_maximum=True)
    with pytest.raises(ValueError, match="beta must be >= 0, got nan"):
        check_weight("beta", float("nan"))
    for bad in (True, None, [1.0], torch.ones(2)):
        with pytest.raises(ValueError, match=re.escape(f"beta must be a number, got {bad!r}")):
            check_weight("beta", bad)
    with pytest.raises(ValueError, match=r"lr must be a number, got '1e-4' \(YAML reads .* write 1.0e-4\)"):
        check_number("lr", "1e-4")


def test_integers():
    assert check_int("n", np.int64(3), 1) == 3 and type(check_int("n", np.int64(3), 1)) is int
    assert check_int("seed", -5) == -5
    for bad, allowed in ((0, ">= 1"), (2.0, ">= 1"), (True, ">= 1"), ("3", ">= 1")):
        with pytest.raises(ValueError, match=re.escape(f"n must be an integer {allowed}, got {bad!r}")):
            check_int("n", bad, 1)
    with pytest.raises(ValueError, match=r"layer must be an integer in \[0, 3\], got 4"):
        check_int("layer", 4, 0, 3)
    with pytest.raises(ConfigError, match="config key 'train.steps': must be an integer >= 1, got 0"):
        check_int("config key 'train.steps':", 0, 1, error=ConfigError)
    with pytest.raises(TypeError, match="seed must be an integer, got 1.5"):
        check_int("seed", 1.5, error=TypeError)
