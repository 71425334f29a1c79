"""JSON values whose numbers are all finite.

pydantic reads ``NaN``, ``Infinity`` and ``1e999`` (an overflow to infinity) as floats, but
JSON has no such numbers: stored or sent on, they break whoever reads them next (a webhook
receiver's parser, our own ``json.dumps(allow_nan=False)``). They are refused where they come in.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

V = TypeVar("V")


def non_finite(value: Any, path: str = "") -> str | None:
    """Where in a JSON value a NaN or an infinity sits (``a.0.b``), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "the value"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return next((found for k, v in items if (found := non_finite(v, f"{path}.{k}".lstrip("."))) is not None), None)


def check_finite(value: V) -> V:
    """``value`` when all its numbers are finite; raises ValueError naming where one is not."""
    found = non_finite(value)
    if found is not None:
        raise ValueError(f"{found} is not a finite number")
    return value
