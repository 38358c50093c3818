"""Private helpers shared by the research.rl modules."""

from __future__ import annotations

import jax


def maybe_stop_gradient(x, stop: bool):
  """`jax.lax.stop_gradient(x)` when `stop`, else `x` (rlax's `stop_target_gradients` switch)."""
  return jax.lax.stop_gradient(x) if stop else x
