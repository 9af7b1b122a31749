"""Reading the classifier's feature values, which arrive as JSON numbers or text."""

from __future__ import annotations

import math
from typing import Any


def number(value: Any) -> float | None:
    """A finite number from a feature value (int, float or numeric text); else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        parsed = float(value)
    except ValueError:
        return None
    return parsed if math.isfinite(parsed) else None
