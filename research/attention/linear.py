"""Linear (kernelised) attention: non-causal in two matmuls, causal chunked.

The causal kernel splits the sequence into chunks of `C` positions. Inside a chunk it runs a small
masked quadratic attention; across chunks it carries the running state `S = Σ φ(k_j) v_jᵀ` (and the
normaliser `z = Σ φ(k_j)`, folded into `S` as an extra column of ones appended to `v`). All chunks
are computed at once with batched matmuls; only the exclusive prefix sum of the per-chunk states
runs as a `lax.scan` over the `T / C` chunks (a `jnp.cumsum` would be O(N²) on XLA:CPU). Time is
O(T·C·F + T·F·Dv) and memory O(T·(F + Dv + C) + (T / C)·F·Dv); no state is ever stored per
position. The chunked core is wrapped in `jax.checkpoint`, so a model's backward pass keeps only
its inputs and recomputes the chunk states instead of storing them for every layer.

Decoding uses the recurrent form instead (`linear_step`, one position at a time, O(F·Dv) per step):
the state `{"s": S, "z": z}` starts at `linear_init_state` (zeros) or, after a prompt, at
`linear_final_state`.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from research import checks
from research.attention import _common


def elu_plus_one(x: jax.Array) -> jax.Array:
  r"""The feature map of linear attention, `φ(x) = elu(x) + 1 > 0`.

  .. math::
    \phi(x) = \begin{cases} x + 1 & x > 0 \\ e^{x} & x \le 0 \end{cases}

  See 'Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention' by
  Katharopoulos et al. (https://arxiv.org/abs/2006.16236).

  Args:
    x: an array of any shape.

  Returns:
    `elu(x) + 1`, elementwise, with the shape and dtype of `x`.
  """
  # Not `jax.nn.elu(x) + 1`, which rounds to exactly 0 in float32 below x = -17 or so.
  return jnp.where(x > 0, x + 1, jnp.exp(jnp.minimum(x, 0)))


def _exclusive_prefix_sum(x: jax.Array, axis: int) -> jax.Array:
  """Exclusive prefix sum along `axis` (a short scan over chunks; cumsum is O(N²) on XLA:CPU)."""
  xs = jnp.moveaxis(x, axis, 0)

  def step(total, chunk):
    return total + chunk, total

  _, out = lax.scan(step, jnp.zeros_like(xs[0]), xs)
  return jnp.moveaxis(out, 0, axis)


def _causal_product_chunked(a: jax.Array, b: jax.Array, c: jax.Array, *,
                            chunk_size: int) -> jax.Array:
  """`out_i = Σ_{j <= i} (a_i · b_j) c_j` for `a, b: [B, H, T, F]`, `c: [B, H, T, E]`."""
  batch, heads, t, f = a.shape
  e = c.shape[-1]
  size = min(chunk_size, t)
  num_chunks = -(-t // size)
  padded = num_chunks * size
  # Zeros appended at the end only feed (and are) positions past T, which are sliced away.
  a, b, c = (_common.pad_axis(x, 2, padded) for x in (a, b, c))
  a = a.reshape(batch, heads, num_chunks, size, f)
  b = b.reshape(batch, heads, num_chunks, size, f)
  c = c.reshape(batch, heads, num_chunks, size, e)
  mask = jnp.tril(jnp.ones((size, size), dtype=bool))
  scores = jnp.where(mask, jnp.einsum("bhncf,bhnsf->bhncs", a, b), 0)
  intra = jnp.einsum("bhncs,bhnse->bhnce", scores, c)
  chunk_states = jnp.einsum("bhncf,bhnce->bhnfe", b, c)
  past_states = _exclusive_prefix_sum(chunk_states, axis=2)
  inter = jnp.einsum("bhncf,bhnfe->bhnce", a, past_states)
  out = (intra + inter).reshape(batch, heads, padded, e)
  return out[:, :, :t]


def kernelized_attention(phi_q: jax.Array, phi_k: jax.Array, v: jax.Array, *,
                         causal: bool = False, chunk_size: int = 64, eps: float = 1e-6,
                         normalize: bool = True) -> jax.Array:
  r"""Attention with the kernel `φ(q)ᵀφ(k)`, given the features: the shared linear-time kernel.

  .. math::
    O_i = \frac{\phi(q_i)^\top \sum_j \phi(k_j) v_j^\top}
               {\phi(q_i)^\top \sum_j \phi(k_j) + \epsilon}
    \quad\text{(or only the numerator when } \texttt{normalize=False}\text{)},

  with the sums over `j <= i` when causal. Non-causal attention is two matmuls
  (`φ(K)ᵀV`, then `φ(Q)·`). Causal attention is chunked: inside each chunk of `chunk_size`
  positions a masked quadratic attention, across chunks the carried state `Σ φ(k_j) v_jᵀ`; the
  result does not depend on `chunk_size`. A length that is not a multiple of `chunk_size` is
  padded with zeros at the end internally (harmless: padded keys only reach padded queries) and
  sliced away. `linear_attention`, `performer_attention` and `norm_attention` are this kernel
  with their feature maps. Lower-precision inputs are upcast to float32; the output has the
  dtype of the inputs.

  See 'Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention' by
  Katharopoulos et al. (https://arxiv.org/abs/2006.16236).
  Not jitted here: `causal`, `chunk_size` and `normalize` are static under `jax.jit`.

  Args:
    phi_q: query features `[..., T, H, F]`.
    phi_k: key features `[..., S, H, F]` (`S == T` when causal).
    v: values `[..., S, H, Dv]`.
    causal: if True, position `i` attends to positions `j <= i` only.
    chunk_size: chunk length `C` of the causal kernel (speed only, not the result).
    eps: added to the denominator.
    normalize: if False, return the numerator only (no `1 / Σ` scaling).

  Returns:
    The attention output `[..., T, H, Dv]`.
  """
  _common.check_qkv(phi_q, phi_k, v, same_length=causal, names=("phi_q", "phi_k", "v"))
  chunk_size = checks.static_int(chunk_size, "chunk_size")
  dtype = _common.compute_dtype(phi_q, phi_k, v)
  out_dtype = _common.output_dtype(phi_q, phi_k, v)
  batch_shape = jnp.shape(phi_q)[:-3]
  a, b, c = (_common.to_heads_major(jnp.asarray(x, dtype)) for x in (phi_q, phi_k, v))
  dv = c.shape[-1]
  if normalize:  # A column of ones in the values carries the normaliser Σ φ(k_j).
    c = jnp.concatenate([c, jnp.ones(c.shape[:-1] + (1,), dtype)], axis=-1)
  if causal:
    core = jax.checkpoint(functools.partial(_causal_product_chunked, chunk_size=chunk_size))
    out = core(a, b, c)
  else:
    state = jnp.einsum("bhsf,bhse->bhfe", b, c)
    out = jnp.einsum("bhtf,bhfe->bhte", a, state)
  if normalize:
    out = out[..., :dv] / (out[..., dv:] + eps)
  return _common.from_heads_major(out, batch_shape).astype(out_dtype)


def linear_attention(q: jax.Array, k: jax.Array, v: jax.Array, *, causal: bool = False,
                     feature_map: Callable[[jax.Array], jax.Array] = elu_plus_one,
                     chunk_size: int = 64, eps: float = 1e-6) -> jax.Array:
  r"""Linear attention: softmax replaced by the kernel `φ(q)ᵀφ(k)`, in O(T) time and memory.

  .. math::
    O_i = \frac{\phi(q_i)^\top \sum_{j} \phi(k_j) v_j^\top}
               {\phi(q_i)^\top \sum_{j} \phi(k_j) + \epsilon},
    \qquad \phi(x) = \mathrm{elu}(x) + 1, \quad j \le i \text{ when causal.}

  Causal attention is computed in chunks of `chunk_size` (see `kernelized_attention`); `T` need
  not be a multiple of it (padded internally), and the result does not depend on it.

  See 'Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention' by
  Katharopoulos et al. (https://arxiv.org/abs/2006.16236).

  Args:
    q: queries `[..., T, H, D]`.
    k: keys `[..., S, H, D]` (`S == T` when causal).
    v: values `[..., S, H, Dv]`.
    causal: if True, position `i` attends to positions `j <= i` only.
    feature_map: the elementwise positive feature map `φ`, applied to `q` and `k` in float32.
    chunk_size: chunk length of the causal kernel (64 was fastest on CPU at D = 64).
    eps: added to the denominator.

  Returns:
    The attention output `[..., T, H, Dv]`, in the dtype of the inputs.
  """
  _common.check_qkv(q, k, v, same_length=causal)
  dtype = _common.compute_dtype(q, k, v)
  out_dtype = _common.output_dtype(q, k, v)
  phi_q = feature_map(jnp.asarray(q, dtype))
  phi_k = feature_map(jnp.asarray(k, dtype))
  out = kernelized_attention(phi_q, phi_k, jnp.asarray(v, dtype), causal=causal,
                             chunk_size=chunk_size, eps=eps)
  return out.astype(out_dtype)


def linear_init_state(batch_size: int, num_heads: int, head_dim: int) -> dict[str, jax.Array]:
  """The empty state of `linear_step`: `S = 0 [B, H, D, D]`, `z = 0 [B, H, D]` (float32).

  The feature dimension is `head_dim` (an elementwise feature map such as `elu_plus_one`).

  Args:
    batch_size: `B`.
    num_heads: `H`.
    head_dim: `D` of queries, keys and values.

  Returns:
    `{"s": [B, H, D, D], "z": [B, H, D]}`.
  """
  b, h, d = batch_size, num_heads, head_dim
  return {"s": jnp.zeros((b, h, d, d)), "z": jnp.zeros((b, h, d))}


def _kv_state(phi_k: jax.Array, v: jax.Array) -> jax.Array:
  """`S = Σ_j φ(k_j) v_jᵀ [..., H, F, Dv]` over the positions of `phi_k [..., T, H, F]`."""
  return jnp.einsum("...thf,...the->...hfe", phi_k, v)


def _add_kv(s: jax.Array, phi_k: jax.Array, v: jax.Array) -> jax.Array:
  """`S + φ(k_t) v_tᵀ` for one position: `s [..., H, F, Dv]`, `phi_k [..., H, F]`, `v [..., H, Dv]`.
  """
  return s + phi_k[..., None] * v[..., None, :]


def linear_final_state(k: jax.Array, v: jax.Array, *,
                       feature_map: Callable[[jax.Array], jax.Array] = elu_plus_one
                       ) -> dict[str, jax.Array]:
  r"""The state of `linear_step` after positions `0..T-1`: `S = Σ_j φ(k_j) v_jᵀ`, `z = Σ_j φ(k_j)`.

  Args:
    k: keys `[..., T, H, D]` (float32).
    v: values `[..., T, H, Dv]`.
    feature_map: `φ`.

  Returns:
    `{"s": [..., H, D, Dv], "z": [..., H, D]}` (equal to `T` steps up to rounding).
  """
  phi_k = feature_map(k)
  return {"s": _kv_state(phi_k, v), "z": phi_k.sum(-3)}


def linear_step(state: dict[str, jax.Array], q: jax.Array, k: jax.Array, v: jax.Array, *,
                feature_map: Callable[[jax.Array], jax.Array] = elu_plus_one,
                eps: float = 1e-6) -> tuple[dict[str, jax.Array], jax.Array]:
  r"""One causal position of `linear_attention`: the recurrent (RNN) form.

  .. math::
    S_t = S_{t-1} + \phi(k_t) v_t^\top, \quad z_t = z_{t-1} + \phi(k_t), \qquad
    o_t = \frac{S_t^\top \phi(q_t)}{z_t^\top \phi(q_t) + \epsilon}.

  Stepping `t = 0..T-1` from `linear_init_state` gives the causal `linear_attention`.

  See 'Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention' by
  Katharopoulos et al. (https://arxiv.org/abs/2006.16236).

  Args:
    state: `{"s": [..., H, D, Dv], "z": [..., H, D]}`.
    q: the query `[..., H, D]` at position `t` (float32).
    k: the key `[..., H, D]`.
    v: the value `[..., H, Dv]`.
    feature_map: `φ`.
    eps: added to the denominator.

  Returns:
    `(state, o)`: the state after `t`, and the output `[..., H, Dv]`.
  """
  phi_q, phi_k = feature_map(q), feature_map(k)
  s = _add_kv(state["s"], phi_k, v)
  z = state["z"] + phi_k
  out = jnp.einsum("...hf,...hfe->...he", phi_q, s)
  return {"s": s, "z": z}, out / (jnp.sum(phi_q * z, axis=-1, keepdims=True) + eps)
