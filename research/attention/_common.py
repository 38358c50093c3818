"""Shared helpers of research.attention: q/k/v shape checks, dtypes and layouts (private; the
scalar-argument checks are `research.checks`)."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def check_rank(x, name: str, layout: str = "[..., T, H, D]") -> None:
  if jnp.ndim(x) < 3:
    raise ValueError(f"{name} must have rank >= 3 ({layout}), got shape {jnp.shape(x)}.")


def check_qkv(q, k, v, *, same_length: bool, names=("q", "k", "v")) -> None:
  """Checks `q: [..., T, H, D]`, `k: [..., S, H, D]`, `v: [..., S, H, Dv]` at trace time.

  Leading (batch) dimensions must be equal (no broadcasting); `same_length` additionally asks
  for `T == S` (causal attention and block-diagonal attention).
  """
  nq, nk, nv = names
  for x, name in zip((q, k, v), names, strict=True):
    check_rank(x, name)
  qs, ks, vs = jnp.shape(q), jnp.shape(k), jnp.shape(v)
  if qs[:-3] != ks[:-3] or qs[:-3] != vs[:-3]:
    raise ValueError(
      f"{nq}, {nk} and {nv} must have the same leading (batch) dimensions, got shapes "
      f"{qs}, {ks} and {vs}.")
  if ks[-3] != vs[-3]:
    raise ValueError(
      f"{nk} and {nv} must have the same sequence length (axis -3), got shapes {ks} and {vs}.")
  if not qs[-2] == ks[-2] == vs[-2]:
    raise ValueError(
      f"{nq}, {nk} and {nv} must have the same number of heads (axis -2), got shapes "
      f"{qs}, {ks} and {vs}.")
  if qs[-1] != ks[-1]:
    raise ValueError(
      f"{nq} and {nk} must have the same feature size (axis -1), got shapes {qs} and {ks}.")
  if same_length and qs[-3] != ks[-3]:
    raise ValueError(
      f"{nq} and {nk} must have the same sequence length (axis -3) here (causal or block "
      f"attention), got shapes {qs} and {ks}.")


def compute_dtype(*xs):
  """The dtype computations run in: the inputs' common dtype, at least float32."""
  return jnp.promote_types(jnp.result_type(*xs), jnp.float32)


def output_dtype(*xs):
  """The dtype of the result: the inputs' common dtype (floating)."""
  dtype = jnp.result_type(*xs)
  return dtype if jnp.issubdtype(dtype, jnp.floating) else compute_dtype(*xs)


def to_heads_major(x: jax.Array) -> jax.Array:
  """`[..., T, H, D] -> [B, H, T, D]` with all leading dimensions flattened into `B`."""
  *_, t, h, d = x.shape
  return jnp.swapaxes(x.reshape((-1, t, h, d)), 1, 2)


def from_heads_major(x: jax.Array, batch_shape: tuple[int, ...]) -> jax.Array:
  """`[B, H, T, D] -> [..., T, H, D]`, the inverse of `to_heads_major`."""
  _, h, t, d = x.shape
  return jnp.swapaxes(x, 1, 2).reshape(tuple(batch_shape) + (t, h, d))


def pad_axis(x: jax.Array, axis: int, size: int) -> jax.Array:
  """Pads `x` with zeros at the end of `axis` up to length `size`."""
  extra = size - x.shape[axis]
  if extra == 0:
    return x
  widths = [(0, 0)] * x.ndim
  widths[axis] = (0, extra)
  return jnp.pad(x, widths)
