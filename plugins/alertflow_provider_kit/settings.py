"""Setting types the first-party providers share, bounded where a tenant may set them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# A worker waits this long at most on one call: past five minutes a peer is not slow but gone,
# and a tenant's set-up must not hold a worker (or a pooled connection) for hours.
MAX_TIMEOUT_SECONDS = 300.0

TimeoutSeconds = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_SECONDS, allow_inf_nan=False)]
