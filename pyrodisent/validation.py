"""Checks of the numbers and integers that configs, sweeps, plugins and components take.

One wording everywhere: ``<name> must be <what is allowed>, got <value>``. ``name`` is how
the caller names the parameter in its message (``"beta"``, ``"pc: group_rank"``,
``"config key 'train.steps':"``), and ``error`` the exception class to raise (``ValueError``
by default; configs raise ``ConfigError``, sweeps ``SweepError``). Each check returns the
value as a plain ``float`` or ``int``.

A number is a real ``int``/``float`` (NumPy scalars and 0-d real tensors included), never a
bool or a string: YAML reads ``1e-4`` as text, and silently converting it would hide the
typo a config check exists to catch. An integer is an ``int`` (or NumPy integer), never a
bool or a float such as ``2.0``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

__all__ = ["check_int", "check_number", "check_weight"]


def _bound_text(minimum, maximum, exclusive_minimum: bool, exclusive_maximum: bool, fmt) -> str:
    if minimum is not None and maximum is not None:
        return f"in {'(' if exclusive_minimum else '['}{fmt(minimum)}, {fmt(maximum)}{')' if exclusive_maximum else ']'}"
    if minimum is not None:
        return f"{'>' if exclusive_minimum else '>='} {fmt(minimum)}"
    if maximum is not None:
        return f"{'<' if exclusive_maximum else '<='} {fmt(maximum)}"
    return ""


def _real(value: Any) -> float | None:
    """``value`` as a float when it is a real number (not a bool or a string), else None."""
    if isinstance(value, bool):
        return None
    if torch.is_tensor(value):
        if value.dim() != 0 or value.is_complex() or value.dtype == torch.bool:
            return None
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return None


def check_number(
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
    error: type[Exception] = ValueError,
) -> float:
    """``value`` as a float, within the given bounds (NaN is never within any)."""
    number = _real(value)
    if number is None:
        hint = " (YAML reads numbers like 1e-4 as text: write 1.0e-4)" if isinstance(value, str) else ""
        raise error(f"{name} must be a number, got {value!r}{hint}")
    fmt = "{:g}".format
    allowed = _bound_text(minimum, maximum, exclusive_minimum, exclusive_maximum, fmt)
    below = minimum is not None and (number < minimum or (exclusive_minimum and number == minimum))
    above = maximum is not None and (number > maximum or (exclusive_maximum and number == maximum))
    if math.isnan(number) or below or above:
        raise error(f"{name} must be {allowed or 'a number'}, got {number}")
    return number


def check_weight(name: str, value: Any, minimum: float = 0.0, *, error: type[Exception] = ValueError) -> float:
    """A loss weight or other non-negative hyperparameter: a number >= ``minimum``."""
    return check_number(name, value, minimum, error=error)


def check_int(
    name: str,
    value: Any,
    minimum: int | None = None,
    maximum: int | None = None,
    *,
    error: type[Exception] = ValueError,
) -> int:
    """``value`` as an int, within [``minimum``, ``maximum``] where given."""
    allowed = _bound_text(minimum, maximum, False, False, str)
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and (minimum is not None and value < minimum or maximum is not None and value > maximum):
        ok = False
    if not ok:
        raise error(f"{name} must be an integer{' ' + allowed if allowed else ''}, got {value!r}")
    return int(value)
