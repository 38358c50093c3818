"""Performer (FAVOR+): random-feature estimates of the softmax kernel, and attention with them.

Where the scaling happens: `favor_features` multiplies its input by `D^{-1/4}` before the
projection, so that `φ(q)ᵀφ(k)` estimates `exp(qᵀk / √D)`, the softmax kernel of attention.
`positive_random_features` and `trig_random_features` are the raw maps, without that scaling and
without a stabiliser: `φ(x)ᵀφ(y)` estimates `exp(xᵀy)` (for kernel-estimation experiments).

Stabiliser: the exponent of the positive features has its maximum subtracted before `exp`,
per row (position and head, over features) for queries and per sequence (over positions and
features, for each batch element and head, never across the batch) for keys; the trigonometric
features' `exp(‖x‖²/2)` factor likewise. Each factor is constant over what attention normalises
over, so it cancels in attention's ratio; it is treated as a constant (`stop_gradient`).
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax

from research.attention import _common
from research.attention.linear import kernelized_attention

_SCALINGS = ("chi", "sqrt_d")
_KINDS = ("positive", "trig")


def gaussian_orthogonal_random_matrix(key: jax.Array, num_features: int, dim: int, *,
                                      scaling: str = "chi", orthogonal: bool = True,
                                      dtype=jnp.float32) -> jax.Array:
  r"""Random projection `W [m, D]` for FAVOR+: blocks of orthogonal Gaussian rows.

  .. math::
    W = \mathrm{diag}(n) \begin{bmatrix} Q_1^\top \\ \vdots \\ Q_{\lceil m/D \rceil}^\top
    \end{bmatrix}_{1:m},
    \qquad Q_b R_b = G_b \sim \mathcal{N}(0, 1)^{D \times D}, \quad
    Q_b \leftarrow Q_b\,\mathrm{sign}(\mathrm{diag}\,R_b).

  Each block holds `D` orthonormal rows; the sign fix makes `Q_b` Haar-distributed (without it
  the estimates are biased). The last block is truncated to `m` rows in all. Row norms `n` are
  chi-distributed with `D` degrees of freedom (`scaling="chi"`: norms of fresh Gaussian vectors,
  so every row is marginally `N(0, I)` and the estimators stay unbiased) or all `√D`
  (`scaling="sqrt_d"`). With `orthogonal=False` the rows are independent: Gaussian rows for
  `"chi"`, Gaussian directions of norm `√D` for `"sqrt_d"`.

  See 'Rethinking Attention with Performers' by Choromanski et al.
  (https://arxiv.org/abs/2009.14794).

  Args:
    key: a PRNG key; a new key redraws the features.
    num_features: number of random features `m >= 1` (a Python int).
    dim: the head dimension `D >= 1` (a Python int).
    scaling: `"chi"` or `"sqrt_d"`, the row norms.
    orthogonal: orthogonal blocks (True) or independent rows (False).
    dtype: the dtype of the result.

  Returns:
    The projection `[num_features, dim]`.
  """
  num_features = _common.check_positive_int(num_features, "num_features")
  dim = _common.check_positive_int(dim, "dim")
  _common.check_choice(scaling, "scaling", _SCALINGS)
  return _random_matrix(key, num_features=num_features, dim=dim, scaling=scaling,
                        orthogonal=bool(orthogonal), dtype=jnp.dtype(dtype))


@functools.partial(jax.jit,
                   static_argnames=("num_features", "dim", "scaling", "orthogonal", "dtype"))
def _random_matrix(key, *, num_features, dim, scaling, orthogonal, dtype):
  num_blocks = -(-num_features // dim) if orthogonal else 0
  num_norms = num_features if (orthogonal and scaling == "chi") else 0
  num_rows = num_features if not orthogonal else 0
  # One draw for everything (block matrices, norm vectors, iid rows): one RNG program.
  gaussian = jax.random.normal(key, (num_blocks * dim + num_norms + num_rows, dim), jnp.float32)
  if orthogonal:
    blocks = gaussian[:num_blocks * dim].reshape(num_blocks, dim, dim)
    q, r = jnp.linalg.qr(blocks)
    signs = jnp.where(jnp.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0)
    q = q * signs[:, None, :]  # Column j of Q_b times sign(R_b[j, j]).
    rows = jnp.swapaxes(q, -1, -2).reshape(num_blocks * dim, dim)[:num_features]
  else:
    rows = gaussian
    if scaling == "chi":  # Gaussian rows: chi norms already.
      return rows.astype(dtype)
    rows = rows / jnp.linalg.norm(rows, axis=-1, keepdims=True)
  if scaling == "chi":
    norms = jnp.linalg.norm(gaussian[num_blocks * dim:], axis=-1)
  else:
    norms = jnp.full((num_features,), math.sqrt(dim), jnp.float32)
  return (rows * norms[:, None]).astype(dtype)


def gaussian_random_matrix(key: jax.Array, num_features: int, dim: int, *,
                           scaling: str = "chi", dtype=jnp.float32) -> jax.Array:
  """Independent (iid) random projection `[m, D]`: `gaussian_orthogonal_random_matrix` with
  `orthogonal=False`, the non-orthogonal baseline of the Performer kernel experiments.

  See 'Rethinking Attention with Performers' by Choromanski et al.
  (https://arxiv.org/abs/2009.14794).

  Args:
    key: a PRNG key.
    num_features: number of random features `m >= 1`.
    dim: the input dimension `D >= 1`.
    scaling: `"chi"` (rows `~ N(0, I)`) or `"sqrt_d"` (random directions of norm `√D`).
    dtype: the dtype of the result.

  Returns:
    The projection `[num_features, dim]`.
  """
  return gaussian_orthogonal_random_matrix(key, num_features, dim, scaling=scaling,
                                           orthogonal=False, dtype=dtype)


def _check_projection(x, projection) -> None:
  if jnp.ndim(projection) != 2:
    raise ValueError(f"projection must have rank 2 [m, D], got shape {jnp.shape(projection)}.")
  if jnp.shape(projection)[1] != jnp.shape(x)[-1]:
    raise ValueError(
      f"projection [m, D] must have D = x.shape[-1] = {jnp.shape(x)[-1]}, got shape "
      f"{jnp.shape(projection)}.")


def positive_random_features(x: jax.Array, projection: jax.Array) -> jax.Array:
  r"""Positive random features of the exponential kernel: `E[φ(x)ᵀφ(y)] = exp(xᵀy)`.

  .. math::
    \phi^+(x) = \frac{1}{\sqrt{m}} \exp\!\left(W x - \tfrac{1}{2}\lVert x\rVert^2\right)
    \in \mathbb{R}^m.

  No `D^{-1/4}` scaling and no stabiliser: the raw, unbiased estimator (for rows of `W`
  marginally `N(0, I)`), for kernel-approximation experiments. It overflows for large inputs; use
  `favor_features` inside attention.

  See 'Rethinking Attention with Performers' by Choromanski et al.
  (https://arxiv.org/abs/2009.14794).

  Args:
    x: inputs `[..., D]`.
    projection: `W [m, D]`.

  Returns:
    The features `[..., m]` (at least float32).
  """
  _check_projection(x, projection)
  dtype = _common.compute_dtype(x, projection)
  x = jnp.asarray(x, dtype)
  w = jnp.asarray(projection, dtype)
  logits = x @ w.T - 0.5 * jnp.sum(x * x, axis=-1, keepdims=True)
  return jnp.exp(logits) / math.sqrt(w.shape[0])


def trig_random_features(x: jax.Array, projection: jax.Array) -> jax.Array:
  r"""Trigonometric random features of the exponential kernel: `E[φ(x)ᵀφ(y)] = exp(xᵀy)`.

  .. math::
    \phi(x) = \frac{1}{\sqrt{m}} \exp\!\left(\tfrac{1}{2}\lVert x\rVert^2\right)
    \left[\sin(W x), \cos(W x)\right] \in \mathbb{R}^{2m}.

  No `D^{-1/4}` scaling and no stabiliser: the raw, unbiased estimator (random Fourier features
  of the Gaussian kernel times `exp(‖x‖²/2)`), for kernel-approximation experiments.

  See 'Rethinking Attention with Performers' by Choromanski et al.
  (https://arxiv.org/abs/2009.14794).

  Args:
    x: inputs `[..., D]`.
    projection: `W [m, D]`.

  Returns:
    The features `[..., 2m]`: sines first, then cosines (at least float32).
  """
  _check_projection(x, projection)
  dtype = _common.compute_dtype(x, projection)
  x = jnp.asarray(x, dtype)
  w = jnp.asarray(projection, dtype)
  wx = x @ w.T
  scale = jnp.exp(0.5 * jnp.sum(x * x, axis=-1, keepdims=True)) / math.sqrt(w.shape[0])
  return scale * jnp.concatenate([jnp.sin(wx), jnp.cos(wx)], axis=-1)


def favor_features(x: jax.Array, projection: jax.Array, *, kind: str = "positive",
                   is_query: bool, stabilize: bool = True) -> jax.Array:
  r"""FAVOR+ features of queries or keys: `φ(q)ᵀφ(k)` estimates `exp(qᵀk / √D)`.

  .. math::
    \hat{x} = x D^{-1/4}, \qquad
    \phi^+(x) = \tfrac{1}{\sqrt{m}} \exp\!\left(W\hat{x} - \tfrac{1}{2}\lVert\hat{x}\rVert^2
      - c\right), \qquad
    \phi^{\mathrm{trig}}(x) = \tfrac{1}{\sqrt{m}}
      \exp\!\left(\tfrac{1}{2}\lVert\hat{x}\rVert^2 - c\right)[\sin W\hat{x}, \cos W\hat{x}].

  The stabiliser `c` is the maximum of the exponent: for queries per row (each position and
  head, over the features), for keys per sequence (over positions and features, separately for
  every batch element and head). It cancels in attention's ratio and is held constant under
  differentiation; with it, `φ(q)ᵀφ(k)` is the estimate times `exp(-c_q - c_k)`.
  `stabilize=False` gives the unbiased raw estimate (`c = 0`).

  See 'Rethinking Attention with Performers' by Choromanski et al.
  (https://arxiv.org/abs/2009.14794).

  Args:
    x: queries or keys `[..., T, H, D]`.
    projection: `W [m, D]`, e.g. from `gaussian_orthogonal_random_matrix`.
    kind: `"positive"` (FAVOR+, `m` features) or `"trig"` (`2m` features: sin then cos).
    is_query: whether `x` holds queries (per-row stabiliser) or keys (per-sequence stabiliser).
    stabilize: subtract the stabiliser (True) or not (False).

  Returns:
    The features `[..., T, H, m]` (`2m` for `"trig"`), at least float32.
  """
  _common.check_rank(x, "x")
  _check_projection(x, projection)
  _common.check_choice(kind, "kind", _KINDS)
  return _favor_features(x, projection, kind=kind, is_query=bool(is_query),
                         stabilize=bool(stabilize))


@functools.partial(jax.jit, static_argnames=("kind", "is_query", "stabilize"))
def _favor_features(x, projection, *, kind, is_query, stabilize):
  dtype = _common.compute_dtype(x, projection)
  x = x.astype(dtype) * x.shape[-1] ** -0.25
  w = projection.astype(dtype)
  m = w.shape[0]
  wx = jnp.einsum("...d,md->...m", x, w)
  half_sq_norm = 0.5 * jnp.sum(x * x, axis=-1, keepdims=True)
  # Queries: over features (axis -1); keys: over positions and features (axes -3 and -1).
  axes = (-1,) if is_query else (-3, -1)
  if kind == "positive":
    logits = wx - half_sq_norm
    if stabilize:
      logits = logits - lax.stop_gradient(jnp.max(logits, axis=axes, keepdims=True))
    return jnp.exp(logits) / math.sqrt(m)
  log_scale = half_sq_norm
  if stabilize:
    log_scale = log_scale - lax.stop_gradient(jnp.max(log_scale, axis=axes, keepdims=True))
  scale = jnp.exp(log_scale) / math.sqrt(m)
  return scale * jnp.concatenate([jnp.sin(wx), jnp.cos(wx)], axis=-1)


def performer_attention(q: jax.Array, k: jax.Array, v: jax.Array, projection: jax.Array, *,
                        causal: bool = False, kind: str = "positive", chunk_size: int = 64,
                        eps: float = 1e-6) -> jax.Array:
  r"""Performer attention: linear attention with FAVOR+ random features of the softmax kernel.

  .. math::
    O_i = \frac{\phi(q_i)^\top \sum_j \phi(k_j) v_j^\top}{\phi(q_i)^\top \sum_j \phi(k_j)
      + \epsilon}
    \;\xrightarrow{m \to \infty}\;
    \sum_j \mathrm{softmax}_j(q_i^\top k_j / \sqrt{D})\, v_j,

  with `φ = favor_features` and the sums over `j <= i` when causal (the same chunked kernel as
  `linear_attention`). Draw `projection` with `gaussian_orthogonal_random_matrix`; redraw by
  passing a new key there. The keys' per-sequence stabiliser also covers future positions of
  a causal sequence; it cancels exactly in the ratio (up to `eps` and rounding), but a future
  key of much larger norm can make earlier keys' features underflow. Trigonometric features
  are not positive: their denominators can be near zero or negative, which is why FAVOR+ uses
  positive ones.

  See 'Rethinking Attention with Performers' by Choromanski et al.
  (https://arxiv.org/abs/2009.14794).

  Args:
    q: queries `[..., T, H, D]`.
    k: keys `[..., S, H, D]` (`S == T` when causal).
    v: values `[..., S, H, Dv]`.
    projection: `W [m, D]`.
    causal: if True, position `i` attends to positions `j <= i` only.
    kind: `"positive"` or `"trig"` features.
    chunk_size: chunk length of the causal kernel.
    eps: added to the denominator.

  Returns:
    The attention output `[..., T, H, Dv]`, in the dtype of the inputs.
  """
  _common.check_qkv(q, k, v, same_length=causal)
  _common.check_choice(kind, "kind", _KINDS)
  out_dtype = _common.output_dtype(q, k, v)
  phi_q = favor_features(q, projection, kind=kind, is_query=True)
  phi_k = favor_features(k, projection, kind=kind, is_query=False)
  v = jnp.asarray(v, _common.compute_dtype(v))
  out = kernelized_attention(phi_q, phi_k, v, causal=causal, chunk_size=chunk_size, eps=eps)
  return out.astype(out_dtype)
