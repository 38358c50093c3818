"""TransNormer's two attentions: NormAttention (linear, normalised) and DiagAttention (blocks).

The functional versions are parameter-free: the normalisations have no gain or bias (the flax
layers add learnable gains where the published model has them).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from research.attention import _common
from research.attention.linear import elu_plus_one, kernelized_attention

_NORMS = ("rms", "simple_rms", "layer")
_SCORES = ("softmax", "relu")


def rms_norm(x: jax.Array, *, eps: float = 1e-6) -> jax.Array:
  r"""RMSNorm without a gain over the last axis: `x / sqrt(mean(x²) + eps)`.

  .. math::
    \mathrm{RMSNorm}(x) = \frac{x}{\sqrt{\tfrac{1}{D}\sum_d x_d^2 + \epsilon}}.

  See 'Root Mean Square Layer Normalization' by Zhang and Sennrich
  (https://arxiv.org/abs/1910.07467).

  Args:
    x: an array `[..., D]`.
    eps: added to the mean square.

  Returns:
    The normalised array `[..., D]`.
  """
  return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps)


def simple_rms_norm(x: jax.Array, *, eps: float = 1e-6) -> jax.Array:
  r"""SimpleRMSNorm (no gain) over the last axis: `x / (‖x‖₂ · D^{-1/2} + eps)`.

  .. math::
    \mathrm{SRMSNorm}(x) = \frac{x}{\lVert x\rVert_2 D^{-1/2} + \epsilon}.

  See 'The Devil in Linear Transformer' by Qin et al. (https://arxiv.org/abs/2210.10340).

  Args:
    x: an array `[..., D]`.
    eps: added to the root mean square.

  Returns:
    The normalised array `[..., D]`.
  """
  mean_square = jnp.mean(x * x, axis=-1, keepdims=True)
  # Floored so that the gradient at x = 0 (e.g. all ReLU scores zero) is 0, not NaN.
  rms = jnp.sqrt(jnp.maximum(mean_square, jnp.finfo(mean_square.dtype).tiny))
  return x / (rms + eps)


def layer_norm(x: jax.Array, *, eps: float = 1e-6) -> jax.Array:
  r"""LayerNorm without gain or bias over the last axis.

  .. math::
    \mathrm{LN}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad
    \mu = \tfrac{1}{D}\sum_d x_d, \quad \sigma^2 = \tfrac{1}{D}\sum_d (x_d - \mu)^2.

  See 'Layer Normalization' by Ba et al. (https://arxiv.org/abs/1607.06450).

  Args:
    x: an array `[..., D]`.
    eps: added to the variance.

  Returns:
    The normalised array `[..., D]`.
  """
  centred = x - jnp.mean(x, axis=-1, keepdims=True)
  return centred * jax.lax.rsqrt(jnp.mean(centred * centred, axis=-1, keepdims=True) + eps)


def _simple_rms_norm_heads(x: jax.Array, eps: float) -> jax.Array:
  """SimpleRMSNorm of `[..., T, H, Dv]` over all heads concatenated (`H·Dv` channels)."""
  flat = x.reshape(x.shape[:-2] + (-1,))
  return simple_rms_norm(flat, eps=eps).reshape(x.shape)


def norm_attention(q: jax.Array, k: jax.Array, v: jax.Array, *, causal: bool = False,
                   feature_map: Callable[[jax.Array], jax.Array] = elu_plus_one,
                   norm: str = "rms", chunk_size: int = 64, eps: float = 1e-6) -> jax.Array:
  r"""TransNormer's NormAttention: linear attention without its denominator, then a norm.

  .. math::
    O = \mathrm{Norm}\!\left(\phi(Q)\,(\phi(K)^\top V)\right), \qquad
    O_i = \mathrm{Norm}\Big(\sum_{j} \phi(q_i)^\top \phi(k_j)\, v_j\Big),
    \quad j \le i \text{ when causal.}

  The normalisation replaces the `1 / Σ` scaling of linear attention, whose gradients are
  unbounded. `norm="rms"` (RMSNorm) and `"layer"` (LayerNorm) act over the head dimension `Dv`
  of each head separately; `"simple_rms"` (SimpleRMSNorm) acts over all heads concatenated
  (`H·Dv` channels), as in the published model. None has a gain (see the flax layer). The
  published variants use `φ = jax.nn.elu` (T1) and `φ = 1 + elu` (T2, the default). Causal
  attention uses the chunked kernel of `linear_attention`.

  See 'The Devil in Linear Transformer' by Qin et al. (https://arxiv.org/abs/2210.10340).

  Args:
    q: queries `[..., T, H, D]`.
    k: keys `[..., S, H, D]` (`S == T` when causal).
    v: values `[..., S, H, Dv]`.
    causal: if True, position `i` attends to positions `j <= i` only.
    feature_map: the elementwise feature map `φ`.
    norm: `"rms"`, `"simple_rms"` or `"layer"`.
    chunk_size: chunk length of the causal kernel.
    eps: the normalisation's epsilon.

  Returns:
    The attention output `[..., T, H, Dv]`, in the dtype of the inputs.
  """
  _common.check_qkv(q, k, v, same_length=causal)
  _common.check_choice(norm, "norm", _NORMS)
  dtype = _common.compute_dtype(q, k, v)
  out_dtype = _common.output_dtype(q, k, v)
  phi_q = feature_map(jnp.asarray(q, dtype))
  phi_k = feature_map(jnp.asarray(k, dtype))
  out = kernelized_attention(phi_q, phi_k, jnp.asarray(v, dtype), causal=causal,
                             chunk_size=chunk_size, normalize=False)
  return _normalize(out, eps, norm=norm).astype(out_dtype)


@functools.partial(jax.jit, static_argnames=("norm",))
def _normalize(x, eps, *, norm):
  if norm == "rms":
    return rms_norm(x, eps=eps)
  if norm == "layer":
    return layer_norm(x, eps=eps)
  return _simple_rms_norm_heads(x, eps)


def diag_attention(q: jax.Array, k: jax.Array, v: jax.Array, *, block_size: int,
                   causal: bool = False, scores: str = "softmax",
                   eps: float = 1e-6) -> jax.Array:
  r"""TransNormer's DiagAttention: attention inside non-overlapping blocks of `w` positions.

  .. math::
    O_i = \sum_{j \in B(i)} \mathrm{softmax}_j\!\left(q_i^\top k_j / \sqrt{D}\right) v_j,
    \qquad B(i) = \{j : \lfloor j / w \rfloor = \lfloor i / w \rfloor\} \;(\text{and } j \le i
    \text{ when causal}),

  or, with `scores="relu"` (the T1 variant), unnormalised scores followed by SimpleRMSNorm over
  all heads concatenated:
  `O = SRMSNorm(Σ_{j ∈ B(i)} ReLU(q_iᵀk_j / √D) v_j)`. A `T` that is not a multiple of `w` is
  padded at the end internally: the last block is shorter and padded keys are masked out.
  Time and memory O(T·w) per head.

  See 'The Devil in Linear Transformer' by Qin et al. (https://arxiv.org/abs/2210.10340).

  Args:
    q: queries `[..., T, H, D]`.
    k: keys `[..., T, H, D]`.
    v: values `[..., T, H, Dv]`.
    block_size: the block length `w >= 1`.
    causal: if True, causal inside each block.
    scores: `"softmax"` (T2) or `"relu"` (T1).
    eps: SimpleRMSNorm's epsilon (`"relu"` only).

  Returns:
    The attention output `[..., T, H, Dv]`, in the dtype of the inputs.
  """
  _common.check_qkv(q, k, v, same_length=True)
  block_size = _common.check_positive_int(block_size, "block_size")
  _common.check_choice(scores, "scores", _SCORES)
  return _diag_attention(q, k, v, eps, block_size=block_size, causal=bool(causal), scores=scores)


@functools.partial(jax.jit, static_argnames=("block_size", "causal", "scores"))
def _diag_attention(q, k, v, eps, *, block_size, causal, scores):
  dtype = _common.compute_dtype(q, k, v)
  out_dtype = _common.output_dtype(q, k, v)
  batch_shape = jnp.shape(q)[:-3]
  t, d = q.shape[-3], q.shape[-1]
  qh, kh, vh = (_common.to_heads_major(x.astype(dtype)) for x in (q, k, v))
  size = min(block_size, t)
  num_blocks = -(-t // size)
  padded = num_blocks * size
  qh, kh, vh = (_common.pad_axis(x, 2, padded) for x in (qh, kh, vh))
  batch, heads = qh.shape[:2]
  qh = qh.reshape(batch, heads, num_blocks, size, d)
  kh = kh.reshape(batch, heads, num_blocks, size, d)
  vh = vh.reshape(batch, heads, num_blocks, size, vh.shape[-1])
  logits = jnp.einsum("bhnid,bhnjd->bhnij", qh, kh) / jnp.sqrt(jnp.asarray(d, dtype))
  # Mask padded keys (positions >= T) and, when causal, future keys within the block.
  positions = jnp.arange(padded).reshape(num_blocks, 1, size)
  mask = positions < t
  if causal:
    mask = mask & jnp.tril(jnp.ones((size, size), dtype=bool))
  if scores == "softmax":
    # Every row keeps at least one key (its block starts at a real position), so no NaN.
    weights = jax.nn.softmax(jnp.where(mask, logits, jnp.finfo(dtype).min), axis=-1)
  else:
    weights = jnp.where(mask, jax.nn.relu(logits), 0)
  out = jnp.einsum("bhnij,bhnjd->bhnid", weights, vh).reshape(batch, heads, padded, -1)
  out = _common.from_heads_major(out[:, :, :t], batch_shape)
  if scores == "relu":
    out = _simple_rms_norm_heads(out, eps)
  return out.astype(out_dtype)
