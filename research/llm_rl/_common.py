"""Private helpers shared by the research.llm_rl modules."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from research import checks


def as_float(x) -> jax.Array:
  """`x` as a JAX array of a floating dtype (integers and booleans go to the default float)."""
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.result_type(float))
  return x


def safe_div(num, den) -> jax.Array:
  """`num / den` where `den > 0`, else 0; the gradient is finite (no NaN) in both branches."""
  positive = den > 0
  return jnp.where(positive, num / jnp.where(positive, den, 1), 0)


def check_group_size(group_size, batch_size: int) -> int:
  """Validates a static group size that divides the batch; returns it as a Python int."""
  group_size = checks.static_int(group_size, "group_size")
  if batch_size % group_size:
    raise ValueError(
      f"the batch size {batch_size} is not a multiple of group_size={group_size}"
    )
  return group_size


def grouped(x: jax.Array, group_size) -> jax.Array:
  """Reshapes `[B]` into `[B // G, G]`: groups are consecutive rows."""
  group_size = check_group_size(group_size, x.shape[0])
  return x.reshape(x.shape[0] // group_size, group_size)
