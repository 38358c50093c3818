"""TransNormer's two attentions: NormAttention (linear, normalised) and DiagAttention (blocks).

The functional versions are parameter-free: the normalisations have no gain or bias (the flax
layers add learnable gains where the published model has them). Each attention has its full form
(`norm_attention`, `diag_attention`) and, for decoding, its recurrent one-position form
(`norm_step`: the state `S = Σ φ(k_j) v_jᵀ`; `diag_step`: a ring of the current block's keys and
values) with the state's initialiser (`*_init_state`) and the state after a prompt
(`*_final_state`).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from research import checks
from research.attention import _common
from research.attention.linear import _add_kv, _kv_state, elu_plus_one, kernelized_attention
from research.attention.softmax import (
  _write_kv,
  softmax_final_state,
  softmax_init_state,
  softmax_step,
)

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
  checks.choice(norm, "norm", _NORMS)
  dtype = _common.compute_dtype(q, k, v)
  out_dtype = _common.output_dtype(q, k, v)
  phi_q = feature_map(jnp.asarray(q, dtype))
  phi_k = feature_map(jnp.asarray(k, dtype))
  out = kernelized_attention(phi_q, phi_k, jnp.asarray(v, dtype), causal=causal,
                             chunk_size=chunk_size, normalize=False)
  return _normalize(out, eps, norm=norm).astype(out_dtype)


def _normalize(x: jax.Array, eps: float, *, norm: str) -> jax.Array:
  """The `norm` of NormAttention over `[..., H, Dv]` (see `norm_attention`)."""
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
  block_size = checks.static_int(block_size, "block_size")
  checks.choice(scores, "scores", _SCORES)
  causal = bool(causal)
  dtype = _common.compute_dtype(q, k, v)
  out_dtype = _common.output_dtype(q, k, v)
  batch_shape = jnp.shape(q)[:-3]
  t, d = q.shape[-3], q.shape[-1]
  qh, kh, vh = (_common.to_heads_major(jnp.asarray(x, dtype)) for x in (q, k, v))
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


def norm_init_state(batch_size: int, num_heads: int, head_dim: int) -> dict[str, jax.Array]:
  """The empty state of `norm_step`: `S = 0 [B, H, D, D]` (float32; no normaliser `z`).

  Args:
    batch_size: `B`.
    num_heads: `H`.
    head_dim: `D` of queries, keys and values (an elementwise feature map).

  Returns:
    `{"s": [B, H, D, D]}`.
  """
  b, h, d = batch_size, num_heads, head_dim
  return {"s": jnp.zeros((b, h, d, d))}


def norm_final_state(k: jax.Array, v: jax.Array, *,
                     feature_map: Callable[[jax.Array], jax.Array] = elu_plus_one
                     ) -> dict[str, jax.Array]:
  """The state of `norm_step` after positions `0..T-1`: `S = Σ_j φ(k_j) v_jᵀ`.

  Args:
    k: keys `[..., T, H, D]` (float32).
    v: values `[..., T, H, Dv]`.
    feature_map: `φ`.

  Returns:
    `{"s": [..., H, D, Dv]}`.
  """
  return {"s": _kv_state(feature_map(k), v)}


def norm_step(state: dict[str, jax.Array], q: jax.Array, k: jax.Array, v: jax.Array, *,
              feature_map: Callable[[jax.Array], jax.Array] = elu_plus_one, norm: str = "rms",
              eps: float = 1e-6) -> tuple[dict[str, jax.Array], jax.Array]:
  r"""One causal position of `norm_attention`: the recurrent form of NormAttention.

  .. math::
    S_t = S_{t-1} + \phi(k_t) v_t^\top, \qquad o_t = \mathrm{Norm}\!\left(S_t^\top \phi(q_t)\right).

  Stepping `t = 0..T-1` from `norm_init_state` gives the causal `norm_attention`.

  See 'The Devil in Linear Transformer' by Qin et al. (https://arxiv.org/abs/2210.10340).

  Args:
    state: `{"s": [..., H, D, Dv]}`.
    q: the query `[..., H, D]` at position `t` (float32).
    k: the key `[..., H, D]`.
    v: the value `[..., H, Dv]`.
    feature_map: `φ`.
    norm: `"rms"`, `"simple_rms"` (over all heads) or `"layer"`, as in `norm_attention`.
    eps: the normalisation's epsilon.

  Returns:
    `(state, o)`: the state after `t`, and the output `[..., H, Dv]`.
  """
  checks.choice(norm, "norm", _NORMS)
  phi_q, phi_k = feature_map(q), feature_map(k)
  s = _add_kv(state["s"], phi_k, v)
  out = jnp.einsum("...hf,...hfe->...he", phi_q, s)
  return {"s": s}, _normalize(out, eps, norm=norm)


def diag_init_state(batch_size: int, num_heads: int, block_size: int,
                    head_dim: int) -> dict[str, jax.Array]:
  """The empty state of `diag_step`: a ring of `block_size` key/value slots, all zero.

  Args:
    batch_size: `B`.
    num_heads: `H`.
    block_size: `w`, DiagAttention's block length.
    head_dim: `D` of keys and values.

  Returns:
    `{"k", "v": [B, H, w, D]}` (float32).
  """
  return softmax_init_state(batch_size, num_heads, block_size, head_dim)


def diag_final_state(k: jax.Array, v: jax.Array, block_size: int) -> dict[str, jax.Array]:
  """The state of `diag_step` after positions `0..T-1`: the keys and values of the last block.

  The current block starts at `⌊(T-1)/w⌋·w`; its positions fill the first slots of the ring
  (slot `t mod w` holds position `t`), the rest are zero.

  Args:
    k: keys `[..., T, H, D]`.
    v: values `[..., T, H, Dv]`.
    block_size: `w`.

  Returns:
    `{"k": [..., H, w, D], "v": [..., H, w, Dv]}`.
  """
  start = ((k.shape[-3] - 1) // block_size) * block_size
  return softmax_final_state(k[..., start:, :, :], v[..., start:, :, :], block_size)


def diag_step(state: dict[str, jax.Array], q: jax.Array, k: jax.Array, v: jax.Array, position,
              *, scores: str = "softmax",
              eps: float = 1e-6) -> tuple[dict[str, jax.Array], jax.Array]:
  r"""One causal position of `diag_attention`: attend within the current block only.

  .. math::
    K[t \bmod w] \leftarrow k_t, \quad V[t \bmod w] \leftarrow v_t, \qquad
    o_t = \sum_{j = w\lfloor t/w \rfloor}^{t} \mathrm{softmax}_j(q_t^\top k_j / \sqrt{D})\, v_j

  (or `SRMSNorm(Σ_j ReLU(q_tᵀk_j / √D) v_j)` over all heads for `scores="relu"`). The ring has
  `w` slots (`w` = its length): a block's positions overwrite the previous block's, and slots
  after `t mod w` (still the previous block) are masked out. Stepping `t = 0..T-1` from
  `diag_init_state` gives the causal `diag_attention`.

  See 'The Devil in Linear Transformer' by Qin et al. (https://arxiv.org/abs/2210.10340).

  Args:
    state: the ring `{"k": [..., H, w, D], "v": [..., H, w, Dv]}`.
    q: the query `[..., H, D]` at position `t`.
    k: the key `[..., H, D]`.
    v: the value `[..., H, Dv]`.
    position: `t` (an int scalar, may be traced).
    scores: `"softmax"` (T2) or `"relu"` (T1).
    eps: SimpleRMSNorm's epsilon (`"relu"` only).

  Returns:
    `(state, o)`: the ring with slot `t mod w` written, and the output `[..., H, Dv]`.
  """
  checks.choice(scores, "scores", _SCORES)
  slot = position % state["k"].shape[-2]
  if scores == "softmax":
    return softmax_step(state, q, k, v, slot)
  state, valid = _write_kv(state, k, v, slot)
  logits = jnp.einsum("...hd,...hld->...hl", q, state["k"]) / math.sqrt(q.shape[-1])
  out = jnp.einsum("...hl,...hld->...hd", jnp.where(valid, jax.nn.relu(logits), 0), state["v"])
  return state, _simple_rms_norm_heads(out, eps)
