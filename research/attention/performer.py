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

Decoding (positive features): `performer_step` is the recurrent form of causal
`performer_attention`, with the state `{"s": S, "z": z, "c": c}` (`c` a running maximum of the keys'
exponents) from `performer_init_state` or, after a prompt, `performer_final_state`.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from research import checks
from research.attention import _common
from research.attention.linear import _add_kv, _kv_state, kernelized_attention

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
  num_features = checks.static_int(num_features, "num_features")
  dim = checks.static_int(dim, "dim")
  checks.choice(scaling, "scaling", _SCALINGS)
  orthogonal = bool(orthogonal)
  num_blocks = -(-num_features // dim) if orthogonal else 0
  num_norms = num_features if (orthogonal and scaling == "chi") else 0
  num_rows = num_features if not orthogonal else 0
  # One draw for everything (block matrices, norm vectors, iid rows): one RNG program.
  gaussian = jax.random.normal(key, (num_blocks * dim + num_norms + num_rows, dim), jnp.float32)
  if orthogonal:
    rows = _haar_rows(gaussian[:num_blocks * dim].reshape(num_blocks, dim, dim))[:num_features]
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


def _haar_rows(blocks: jax.Array) -> jax.Array:
  """The rows of every `Q_b sign(diag R_b)` (`Q_b R_b = blocks[b]`, `[n, D, D]`): `[n·D, D]`."""
  q, r = jnp.linalg.qr(blocks)
  signs = jnp.where(jnp.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0)
  q = q * signs[:, None, :]  # Column j of Q_b times sign(R_b[j, j]).
  return jnp.swapaxes(q, -1, -2).reshape(-1, blocks.shape[-1])


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
  checks.choice(kind, "kind", _KINDS)
  is_query, stabilize = bool(is_query), bool(stabilize)
  wx, half_sq_norm = _favor_exponents(x, projection)
  m = jnp.shape(projection)[0]
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


def _favor_exponents(x: jax.Array, projection: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`(W x̂, ‖x̂‖²/2)` for `x̂ = x D^{-1/4}`, `x [..., D]`, `W [m, D]` (at least float32).

  The positive FAVOR+ exponent is their difference.
  """
  dtype = _common.compute_dtype(x, projection)
  x = jnp.asarray(x, dtype) * jnp.shape(x)[-1] ** -0.25
  wx = jnp.einsum("...d,md->...m", x, jnp.asarray(projection, dtype))
  return wx, 0.5 * jnp.sum(x * x, axis=-1, keepdims=True)


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
  checks.choice(kind, "kind", _KINDS)
  out_dtype = _common.output_dtype(q, k, v)
  phi_q = favor_features(q, projection, kind=kind, is_query=True)
  phi_k = favor_features(k, projection, kind=kind, is_query=False)
  v = jnp.asarray(v, _common.compute_dtype(v))
  out = kernelized_attention(phi_q, phi_k, v, causal=causal, chunk_size=chunk_size, eps=eps)
  return out.astype(out_dtype)


def performer_init_state(batch_size: int, num_heads: int, num_features: int,
                         head_dim: int) -> dict[str, jax.Array]:
  """The empty state of `performer_step`: `S = 0`, `z = 0` and the stabiliser `c = -1e30`.

  Args:
    batch_size: `B`.
    num_heads: `H`.
    num_features: `m`, the rows of the projection.
    head_dim: `D` of the values.

  Returns:
    `{"s": [B, H, m, D], "z": [B, H, m], "c": [B, H]}` (float32).
  """
  b, h, m = batch_size, num_heads, num_features
  return {"s": jnp.zeros((b, h, m, head_dim)), "z": jnp.zeros((b, h, m)),
          "c": jnp.full((b, h), -1e30)}


def _key_logits(k: jax.Array, projection: jax.Array) -> jax.Array:
  """The positive FAVOR+ exponent of keys, `W k̂ − ‖k̂‖²/2` `[..., m]`, not stabilised."""
  wx, half_sq_norm = _favor_exponents(k, projection)
  return wx - half_sq_norm


def performer_final_state(k: jax.Array, v: jax.Array,
                          projection: jax.Array) -> dict[str, jax.Array]:
  r"""The state of `performer_step` after positions `0..T-1`, stabilised as the full pass is.

  .. math::
    c = \max_{j, f} \ell_{jf}, \quad \phi(k_j) = e^{\ell_j - c} / \sqrt{m}, \qquad
    S = \sum_j \phi(k_j) v_j^\top, \quad z = \sum_j \phi(k_j),

  with `ℓ_j = W k̂_j − ‖k̂_j‖²/2` (positive features), the maximum per batch element and head.

  Args:
    k: keys `[..., T, H, D]` (float32).
    v: values `[..., T, H, Dv]`.
    projection: `W [m, D]`.

  Returns:
    `{"s": [..., H, m, Dv], "z": [..., H, m], "c": [..., H]}`.
  """
  logits = _key_logits(k, projection)  # [..., T, H, m]
  c = jnp.max(logits, axis=(-3, -1))
  phi_k = jnp.exp(logits - c[..., None, :, None]) / math.sqrt(jnp.shape(projection)[0])
  return {"s": _kv_state(phi_k, v), "z": phi_k.sum(-3), "c": c}


def performer_step(state: dict[str, jax.Array], q: jax.Array, k: jax.Array, v: jax.Array,
                   projection: jax.Array, *,
                   eps: float = 1e-6) -> tuple[dict[str, jax.Array], jax.Array]:
  r"""One causal position of `performer_attention` (positive features): the recurrent form.

  .. math::
    c_t = \max(c_{t-1}, \max_f \ell_{tf}), \quad \rho = e^{c_{t-1} - c_t}, \quad
    \phi(k_t) = e^{\ell_t - c_t} / \sqrt{m},

    S_t = \rho S_{t-1} + \phi(k_t) v_t^\top, \quad z_t = \rho z_{t-1} + \phi(k_t), \qquad
    o_t = \frac{S_t^\top \phi(q_t)}{z_t^\top \phi(q_t) + \epsilon},

  with `ℓ_t = W k̂_t − ‖k̂_t‖²/2` and `φ(q_t)` from `favor_features` (per-row stabiliser). The
  running maximum `c` (as in online softmax) replaces the full pass's maximum over the whole
  sequence; both cancel in the ratio up to `eps`, so stepping `t = 0..T-1` from
  `performer_init_state` equals the causal `performer_attention` up to about `eps / z`.

  See 'Rethinking Attention with Performers' by Choromanski et al.
  (https://arxiv.org/abs/2009.14794).

  Args:
    state: `{"s": [..., H, m, Dv], "z": [..., H, m], "c": [..., H]}`.
    q: the query `[..., H, D]` at position `t` (float32).
    k: the key `[..., H, D]`.
    v: the value `[..., H, Dv]`.
    projection: `W [m, D]`.
    eps: added to the denominator.

  Returns:
    `(state, o)`: the state after `t`, and the output `[..., H, Dv]`.
  """
  logits = _key_logits(k, projection)  # [..., H, m]
  c = jnp.maximum(state["c"], jnp.max(logits, axis=-1))
  rescale = jnp.exp(state["c"] - c)
  phi_k = jnp.exp(logits - c[..., None]) / math.sqrt(jnp.shape(projection)[0])
  s = _add_kv(state["s"] * rescale[..., None, None], phi_k, v)
  z = state["z"] * rescale[..., None] + phi_k
  phi_q = favor_features(q[..., None, :, :], projection, is_query=True)[..., 0, :, :]
  out = jnp.einsum("...hf,...hfe->...he", phi_q, s)
  return {"s": s, "z": z, "c": c}, out / (jnp.sum(phi_q * z, axis=-1, keepdims=True) + eps)
