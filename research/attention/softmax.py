"""Scaled dot-product (softmax) attention, the quadratic baseline: full form, KV cache and step.

The full form attends from every position at once. Decoding keeps the keys and values of the past
positions in a cache `{"k", "v": [..., H, L, D]}` (heads-major, `L` slots) and attends from one new
position per step: `softmax_init_state` is the empty cache, `softmax_final_state` the cache after a
whole prompt, `softmax_step` one position.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from research.attention import _common


def softmax_attention(q: jax.Array, k: jax.Array, v: jax.Array, *,
                      causal: bool = False) -> jax.Array:
  r"""Scaled dot-product attention, equal to `jax.nn.dot_product_attention`.

  .. math::
    O_i = \sum_j \mathrm{softmax}_j\!\left(q_i^\top k_j / \sqrt{D}\right) v_j,
    \qquad j \le i \text{ when causal.}

  Time and memory are O(T·S·H): this is the baseline the linear variants are measured against.
  Inputs of lower precision (bf16) are upcast to float32 inside; the output has the inputs' dtype.
  Not jitted here: `causal` is static under `jax.jit`.

  See 'Attention Is All You Need' by Vaswani et al. (https://arxiv.org/abs/1706.03762).

  Args:
    q: queries `[..., T, H, D]`.
    k: keys `[..., S, H, D]` (`S == T` when causal).
    v: values `[..., S, H, Dv]`.
    causal: if True, position `i` attends to positions `j <= i` only.

  Returns:
    The attention output `[..., T, H, Dv]`.
  """
  _common.check_qkv(q, k, v, same_length=causal)
  dtype = _common.compute_dtype(q, k, v)
  out_dtype = _common.output_dtype(q, k, v)
  q, k, v = (jnp.asarray(x, dtype) for x in (q, k, v))
  logits = jnp.einsum("...thd,...shd->...hts", q, k) / jnp.sqrt(jnp.asarray(q.shape[-1], dtype))
  if causal:
    t = q.shape[-3]
    mask = jnp.tril(jnp.ones((t, t), dtype=bool))
    logits = jnp.where(mask, logits, jnp.finfo(dtype).min)
  weights = jax.nn.softmax(logits, axis=-1)
  return jnp.einsum("...hts,...shd->...thd", weights, v).astype(out_dtype)


def softmax_init_state(batch_size: int, num_heads: int, cache_len: int,
                       head_dim: int) -> dict[str, jax.Array]:
  """The empty KV cache: `{"k", "v": zeros [B, H, cache_len, D]}` (float32).

  Args:
    batch_size: `B`.
    num_heads: `H`.
    cache_len: `L`, the number of positions the cache holds (the longest sequence).
    head_dim: `D` of keys and values.

  Returns:
    The cache of `softmax_step`.
  """
  shape = (batch_size, num_heads, cache_len, head_dim)
  return {"k": jnp.zeros(shape), "v": jnp.zeros(shape)}


def softmax_final_state(k: jax.Array, v: jax.Array, cache_len: int) -> dict[str, jax.Array]:
  """The KV cache after positions `0..T-1`: their keys and values, then zeros up to `cache_len`.

  Args:
    k: keys `[..., T, H, D]`.
    v: values `[..., T, H, Dv]`.
    cache_len: `L >= T` slots.

  Returns:
    `{"k": [..., H, L, D], "v": [..., H, L, Dv]}`, what `softmax_step` reaches after `T` steps.
  """
  t = k.shape[-3]
  if cache_len < t:
    raise ValueError(f"cache_len = {cache_len} is shorter than the prompt ({t}).")
  heads_major = lambda x: _common.pad_axis(jnp.swapaxes(x, -3, -2), x.ndim - 2, cache_len)
  return {"k": heads_major(k), "v": heads_major(v)}


def _write_kv(state: dict[str, jax.Array], k: jax.Array, v: jax.Array, slot):
  """Writes `k [..., H, D]`, `v [..., H, Dv]` into slot `slot` of the cache `[..., H, L, ·]`.

  Returns the new cache and `valid [L]`: True for the slots `0..slot` (the attended ones).
  """
  axis = state["k"].ndim - 2
  k_cache = lax.dynamic_update_slice_in_dim(state["k"], k[..., None, :], slot, axis=axis)
  v_cache = lax.dynamic_update_slice_in_dim(state["v"], v[..., None, :], slot, axis=axis)
  valid = jnp.arange(k_cache.shape[axis]) <= slot
  return {"k": k_cache, "v": v_cache}, valid


def softmax_step(state: dict[str, jax.Array], q: jax.Array, k: jax.Array, v: jax.Array,
                 position) -> tuple[dict[str, jax.Array], jax.Array]:
  r"""One causal position of `softmax_attention`: write `k_t, v_t` at `t`, attend to `0..t`.

  .. math::
    K[t] \leftarrow k_t, \quad V[t] \leftarrow v_t, \qquad
    o_t = \sum_{j \le t} \mathrm{softmax}_j\!\left(q_t^\top k_j / \sqrt{D}\right) v_j.

  Stepping `t = 0..T-1` from `softmax_init_state` gives the causal `softmax_attention`.
  Computes in the dtype of the inputs (float32 in the models).

  See 'Attention Is All You Need' by Vaswani et al. (https://arxiv.org/abs/1706.03762).

  Args:
    state: the cache `{"k": [..., H, L, D], "v": [..., H, L, Dv]}`.
    q: the query `[..., H, D]` at position `t`.
    k: the key `[..., H, D]` at `t`.
    v: the value `[..., H, Dv]` at `t`.
    position: `t < L` (an int scalar, may be traced).

  Returns:
    `(state, o)`: the cache with slot `t` written, and the output `[..., H, Dv]`.
  """
  state, valid = _write_kv(state, k, v, position)
  logits = jnp.einsum("...hd,...hld->...hl", q, state["k"]) / math.sqrt(q.shape[-1])
  logits = jnp.where(valid, logits, jnp.finfo(logits.dtype).min)
  return state, jnp.einsum("...hl,...hld->...hd", jax.nn.softmax(logits, axis=-1), state["v"])
