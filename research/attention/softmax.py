"""Scaled dot-product (softmax) attention, the quadratic baseline."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from research.attention import _common


def softmax_attention(q: jax.Array, k: jax.Array, v: jax.Array, *,
                      causal: bool = False) -> jax.Array:
  r"""Scaled dot-product attention, equal to `jax.nn.dot_product_attention`.

  .. math::
    O_i = \sum_j \mathrm{softmax}_j\!\left(q_i^\top k_j / \sqrt{D}\right) v_j,
    \qquad j \le i \text{ when causal.}

  Time and memory are O(T·S·H): this is the baseline the linear variants are measured against.
  Inputs of lower precision (bf16) are upcast to float32 inside; the output has the inputs' dtype.

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
  return _softmax_attention(q, k, v, causal=bool(causal))


@functools.partial(jax.jit, static_argnames=("causal",))
def _softmax_attention(q, k, v, *, causal):
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
