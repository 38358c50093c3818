"""A small decoder-only transformer language model whose attention is chosen per layer.

.. math::
  h_0 = E[x_t] + P[t], \\qquad
  h_{l+1} = h'_l + \\mathrm{FFN}(\\mathrm{RMSNorm}(h'_l)), \\quad
  h'_l = h_l + \\mathrm{Attn}_l(\\mathrm{RMSNorm}(h_l)), \\qquad
  \\mathrm{logits}_t = \\mathrm{RMSNorm}(h_L)\\, E^\\top \\;(\\text{tied}) \\text{ or } W_{out}.

Learned absolute position embeddings `P [max_len, F]` (no RoPE), pre-norm blocks (RMSNorm), a GELU
MLP or a SwiGLU channel mixer, a tied or untied output head; every attention is causal. Each
layer's attention is one of research.attention's kernels (the full forward pass calls them):
`"softmax"` (`softmax_attention`), `"linear"` (`linear_attention`, `φ = elu + 1`),
`"performer"` (`performer_attention`, positive orthogonal FAVOR+ features), `"norm"`
(`norm_attention`) and `"diag"` (`diag_attention`); `variant` picks TransNormer's published
settings for the last two (`"t1"`: ReLU block scores + SimpleRMSNorm, NormAttention with
`φ = elu` and SimpleRMSNorm; `"t2"`: softmax block scores, NormAttention with `φ = 1 + elu` and
LayerNorm with gain and bias), as `research.attention.MultiHeadAttention` does.

Incremental decoding (one token at a time) is the `decode` method: a KV cache for softmax layers
(all past positions) and diag layers (a ring of `block_size` slots: only the current block is
attended), and the recurrent state `S = Σ φ(k_j) v_jᵀ`, `z = Σ φ(k_j)` for linear, performer and
norm layers (norm keeps no `z`). `prefill` runs the full forward pass over a prompt and returns the
same caches. The step functions below are the recurrent forms of the kernels, written once per
kind; `research.models.decoding` builds sampling on them.

Short convolution (`conv_size = c > 0`): the projections `[q, k, v]_t` of every layer go through
a causal depthwise convolution of width `c` before attention, `y_t = Σ_{i<c} w_i ⊙ x_{t-c+1+i}`
(zero before the sequence; `w [c, 3HD]` learned, no bias or activation), as in H3, Based and the
flash-linear-attention layers. It gives every kind a cheap look at the previous tokens, which
Zoology found necessary for recall by gated and linear models: a key and the value after it must
meet in one position before a linear state can store the pair, and positive linear features
cannot attend sharply to "the previous token" by themselves. Decoding keeps the last `c − 1`
projections in the cache.

Performer: the projection `W [num_features, head_dim]` of each layer is drawn once at `init` from
the `"params"` key and kept in the non-trainable collection `"performer"`
(`variables["performer"]["block_i"]["attention"]["projection"]`), so the full forward pass and
decoding use the same features. The full pass is `performer_attention`: its keys' stabiliser is
the maximum over the whole sequence; decoding keeps a running maximum `c` and rescales `S, z` by
`exp(c_old − c_new)` (as online softmax does). Both cancel in the ratio up to the denominator's
`eps = 1e-6`, so a future token can move earlier performer logits, and cached decoding can differ
from the full pass, by about 1e-4 (measured; every other kind agrees to float32 rounding). (A
fixed, data-independent stabiliser `max_f ‖w_f‖²/2` makes both exact but scales every feature by
`exp(−c)`, tens of orders of magnitude at head dim 64, and training then overflowed in the
backward pass of the ratio.)

Initialisation: kernels `N(0, 1/fan_in)` (`scaled_normal`), embeddings `N(0, 0.02²)`, norm
scales 1, biases 0. `model.init` draws each weight separately (flax's per-parameter keys); the
equivalent `init_lm(model, key)` draws every weight from ONE flat normal vector (and all performer
projections in one batched draw), which compiles several times faster on XLA:CPU, where each
random draw site costs about a second of compilation (more under `vmap` over seeds).

See 'Attention Is All You Need' by Vaswani et al. (https://arxiv.org/abs/1706.03762),
'Hungry Hungry Hippos' by Fu et al. (https://arxiv.org/abs/2212.14052),
'Simple linear attention language models balance the recall-throughput tradeoff' by Arora et al.
(https://arxiv.org/abs/2402.18668),
'GLU Variants Improve Transformer' by Shazeer (https://arxiv.org/abs/2002.05202),
'Transformers are RNNs' by Katharopoulos et al. (https://arxiv.org/abs/2006.16236),
'Rethinking Attention with Performers' by Choromanski et al. (https://arxiv.org/abs/2009.14794),
'The Devil in Linear Transformer' by Qin et al. (https://arxiv.org/abs/2210.10340).
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from research.attention import (
  diag_attention,
  elu_plus_one,
  favor_features,
  gaussian_orthogonal_random_matrix,
  layer_norm,
  linear_attention,
  norm_attention,
  performer_attention,
  rms_norm,
  simple_rms_norm,
  softmax_attention,
  transnormer_layer_kinds,
)

KINDS = ("softmax", "linear", "performer", "norm", "diag")
VARIANTS = ("t1", "t2")
_EPS = 1e-6


def scaled_normal(key, shape, dtype=jnp.float32):
  """`N(0, 1/fan_in)` with `fan_in = prod(shape[:-1])`, drawn as one flat vector."""
  std = 1.0 / math.sqrt(math.prod(shape[:-1]))
  return (std * jax.random.normal(key, (math.prod(shape),), dtype)).reshape(shape)


def normal_flat(stddev: float):
  """`N(0, stddev²)` drawn as one flat vector and reshaped (fast to compile under vmap)."""

  def init(key, shape, dtype=jnp.float32):
    return (stddev * jax.random.normal(key, (math.prod(shape),), dtype)).reshape(shape)

  return init


def layer_kinds(model: TransformerLM) -> tuple[str, ...]:
  """The attention kind of each layer of `model` (layer 0 is next to the embeddings).

  `model.attention` is one kind for all layers, a tuple with one kind per layer, or
  `"transnormer"`: DiagAttention in the lower half of the layers, NormAttention above
  (`research.attention.transnormer_layer_kinds`).
  """
  attention = model.attention
  if attention == "transnormer":
    return transnormer_layer_kinds(model.num_layers)
  kinds = (attention,) * model.num_layers if isinstance(attention, str) else tuple(attention)
  if len(kinds) != model.num_layers:
    raise ValueError(f"attention must name one kind or num_layers = {model.num_layers} kinds, "
                     f"got {attention!r}.")
  for kind in kinds:
    if kind not in KINDS:
      raise ValueError(f"attention kinds must be in {KINDS} (or 'transnormer'), got {kind!r}.")
  return kinds


def variant_settings(variant: str) -> dict[str, Any]:
  """TransNormer's settings of diag and norm attention: `"t1"` or `"t2"` (see the module doc)."""
  if variant not in VARIANTS:
    raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
  if variant == "t1":
    return dict(diag_scores="relu", feature_map=jax.nn.elu, norm="simple_rms")
  return dict(diag_scores="softmax", feature_map=elu_plus_one, norm="layer")


def init_lm(model: TransformerLM, key: jax.Array):
  """`model.init` with every weight drawn from one flat normal vector: fast to compile.

  Same structure and distributions as `model.init(key, tokens)` (kernels `N(0, 1/fan_in)`,
  embeddings `N(0, 0.02²)`, RMSNorm/LayerNorm scales 1, biases 0; performer projections from
  `gaussian_orthogonal_random_matrix`, one batched draw for all layers), not the same values.
  Works under `jit` and `vmap` (e.g. over seeds).

  Args:
    model: the language model.
    key: a PRNG key.

  Returns:
    The variables dict (`"params"`, and `"performer"` when a layer is a performer).
  """
  tokens = jnp.zeros((1, 1), jnp.int32)
  shapes = jax.eval_shape(model.init, key, tokens)
  leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes["params"])
  random = [(path, leaf) for path, leaf in leaves if _init_std(path, leaf.shape) is not None]
  k_params, k_performer = jax.random.split(key)
  noise = jax.random.normal(k_params, (sum(math.prod(leaf.shape) for _, leaf in random),))
  values, offset = [], 0
  for path, leaf in leaves:
    std = _init_std(path, leaf.shape)
    if std is None:
      name = _leaf_name(path)
      values.append(jnp.full(leaf.shape, 0.0 if name.endswith("bias") else 1.0, leaf.dtype))
    else:
      size = math.prod(leaf.shape)
      values.append((std * noise[offset:offset + size]).reshape(leaf.shape).astype(leaf.dtype))
      offset += size
  variables = {"params": jax.tree_util.tree_unflatten(treedef, values)}
  if "performer" in shapes:
    p_leaves, p_def = jax.tree_util.tree_flatten(shapes["performer"])
    m, d = p_leaves[0].shape
    keys = jax.random.split(k_performer, len(p_leaves))
    projections = jax.vmap(lambda k: gaussian_orthogonal_random_matrix(k, m, d))(keys)
    variables["performer"] = jax.tree_util.tree_unflatten(p_def, list(projections))
  return variables


def _leaf_name(path) -> str:
  return str(getattr(path[-1], "key", path[-1]))


def _init_std(path, shape):
  """The init standard deviation of a parameter (None: a constant, ones or zeros)."""
  name = _leaf_name(path)
  if name in ("kernel", "conv_kernel"):
    return 1.0 / math.sqrt(math.prod(shape[:-1]))
  if name in ("embedding", "position_embedding"):
    return 0.02
  return None


def param_count(variables) -> int:
  """Number of trainable parameters (the `"params"` collection; performer projections excluded)."""
  params = variables.get("params", variables) if hasattr(variables, "get") else variables
  return int(sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(params)))


# --- Recurrent (one-position) forms of the attention kernels. q, k, v: [B, H, D]. -------------

def _softmax_step(q, k_cache, v_cache, valid):
  """`Σ_j softmax_j(q·k_j/√D) v_j` over the cached keys `[B, H, L, D]` where `valid [L]`."""
  logits = jnp.einsum("bhd,bhld->bhl", q, k_cache) / math.sqrt(q.shape[-1])
  logits = jnp.where(valid, logits, jnp.finfo(logits.dtype).min)
  return jnp.einsum("bhl,bhld->bhd", jax.nn.softmax(logits, axis=-1), v_cache)


def _relu_step(q, k_cache, v_cache, valid):
  """T1's block scores: `SRMSNorm(Σ_j ReLU(q·k_j/√D) v_j)` over all heads concatenated."""
  logits = jnp.einsum("bhd,bhld->bhl", q, k_cache) / math.sqrt(q.shape[-1])
  out = jnp.einsum("bhl,bhld->bhd", jnp.where(valid, jax.nn.relu(logits), 0), v_cache)
  return simple_rms_norm(out.reshape(out.shape[0], -1), eps=_EPS).reshape(out.shape)


def _favor_logits(x, projection):
  """The positive FAVOR+ exponent `W x̂ − ‖x̂‖²/2`, `x̂ = x D^{-1/4}`, for `x [..., D]`."""
  x = x * x.shape[-1] ** -0.25
  return jnp.einsum("...d,md->...m", x, projection) - 0.5 * jnp.sum(x * x, -1, keepdims=True)


def _normalize(out, norm):
  if norm == "rms":
    return rms_norm(out, eps=_EPS)
  if norm == "layer":
    return layer_norm(out, eps=_EPS)
  flat = out.reshape(out.shape[:-2] + (-1,))  # simple_rms: over all heads concatenated
  return simple_rms_norm(flat, eps=_EPS).reshape(out.shape)


class CausalSelfAttention(nn.Module):
  """Causal multi-head self-attention of one `kind`, with a full pass and a one-token step.

  `__call__` is the full causal pass (research.attention's kernels); `prefill` is the same pass
  that also returns the decoding cache; `decode` attends from one new position to the cache.

  Attributes:
    features: output width `F` (the model width).
    num_heads: heads `H`.
    head_dim: per-head dimension `D`.
    kind: `"softmax" | "linear" | "performer" | "norm" | "diag"`.
    variant: TransNormer settings of `"diag"` and `"norm"`: `"t1"` or `"t2"`.
    block_size: DiagAttention's block length `w`.
    num_features: FAVOR+ features `m` (performer).
    chunk_size: chunk length of the causal linear kernels (speed only).
    conv_size: short causal convolution width over `[q, k, v]` (0: none).
    dtype: computation dtype of the projections (attention runs in float32).
  """
  features: int
  num_heads: int
  head_dim: int
  kind: str = "softmax"
  variant: str = "t2"
  block_size: int = 16
  num_features: int = 64
  chunk_size: int = 64
  conv_size: int = 0
  dtype: Any = jnp.float32

  def setup(self):
    h, d = self.num_heads, self.head_dim
    if self.conv_size < 0:
      raise ValueError(f"conv_size must be >= 0 (0: no short convolution), got {self.conv_size}.")
    if self.kind == "diag" and self.block_size < 1:
      raise ValueError(f"block_size must be >= 1, got {self.block_size}.")
    if self.kind == "performer" and self.num_features < 1:
      raise ValueError(f"num_features must be >= 1, got {self.num_features}.")
    settings = variant_settings(self.variant)
    self.feature_map = settings["feature_map"] if self.kind == "norm" else elu_plus_one
    self.norm = settings["norm"]
    self.diag_scores = settings["diag_scores"]
    self.qkv = nn.Dense(3 * h * d, use_bias=False, dtype=self.dtype,
                        kernel_init=scaled_normal)
    self.out = nn.Dense(self.features, use_bias=False, dtype=self.dtype,
                        kernel_init=scaled_normal)
    if self.conv_size:
      self.conv_kernel = self.param("conv_kernel", scaled_normal, (self.conv_size, 3 * h * d))
    if self.kind == "performer":
      self.projection = self.variable(
        "performer", "projection",
        lambda: gaussian_orthogonal_random_matrix(self.make_rng("params"), self.num_features, d))
    if self.kind == "norm" and self.norm == "layer":
      self.norm_scale = self.param("norm_scale", nn.initializers.ones, (h, d))
      self.norm_bias = self.param("norm_bias", nn.initializers.zeros, (h, d))

  def _split(self, qkv):
    qkv = qkv.reshape(qkv.shape[:-1] + (3, self.num_heads, self.head_dim))
    return qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]

  def _out(self, out, dtype):
    if self.kind == "norm" and self.norm == "layer":
      out = out * self.norm_scale + self.norm_bias
    out = out.reshape(out.shape[:-2] + (-1,)).astype(self.dtype)
    return self.out(out).astype(dtype)

  def __call__(self, x: jax.Array) -> jax.Array:
    """The full causal pass: `x [B, T, F] -> [B, T, F]`."""
    return self._full(x, cache_len=None)[0]

  def prefill(self, x: jax.Array, cache_len: int):
    """The full causal pass over `x [B, T, F]`, and the cache after its last position."""
    return self._full(x, cache_len=cache_len)

  def _full(self, x, *, cache_len):
    projected = self.qkv(x).astype(jnp.float32)  # [B, T, 3HD]
    if self.conv_size:
      # Left-pad with conv_size - 1 zeros: y_t = Σ_i w_i x_{t - (c-1) + i} (causal, depthwise).
      padded = jnp.pad(projected, ((0, 0), (self.conv_size - 1, 0), (0, 0)))
      t = projected.shape[1]
      mixed = sum(self.conv_kernel[i] * padded[:, i:i + t] for i in range(self.conv_size))
      q, k, v = self._split(mixed)
    else:
      q, k, v = self._split(projected)
    kind = self.kind
    if kind == "softmax":
      out = softmax_attention(q, k, v, causal=True)
    elif kind == "linear":
      out = linear_attention(q, k, v, causal=True, chunk_size=self.chunk_size, eps=_EPS)
    elif kind == "performer":
      out = performer_attention(q, k, v, self.projection.value, causal=True,
                                chunk_size=self.chunk_size, eps=_EPS)
    elif kind == "norm":
      out = norm_attention(q, k, v, causal=True, feature_map=self.feature_map, norm=self.norm,
                           chunk_size=self.chunk_size, eps=_EPS)
    else:
      out = diag_attention(q, k, v, block_size=self.block_size, causal=True,
                           scores=self.diag_scores, eps=_EPS)
    out = self._out(out, x.dtype)
    if cache_len is None:
      return out, None
    cache = self._cache_from(q, k, v, cache_len)
    if self.conv_size:
      cache["conv"] = padded[:, padded.shape[1] - (self.conv_size - 1):]
    return out, cache

  def _cache_from(self, q, k, v, cache_len):
    """The decoding cache after positions `0..T-1` given their keys and values `[B, T, H, D]`."""
    t = k.shape[1]
    kind = self.kind
    heads_major = lambda x: jnp.swapaxes(x, 1, 2)  # [B, T, H, D] -> [B, H, T, D]
    if kind == "softmax":
      if cache_len < t:
        raise ValueError(f"cache_len = {cache_len} is shorter than the prompt ({t}).")
      pad = ((0, 0), (0, 0), (0, cache_len - t), (0, 0))
      return {"k": jnp.pad(heads_major(k), pad), "v": jnp.pad(heads_major(v), pad)}
    if kind == "diag":
      w = self.block_size
      start = ((t - 1) // w) * w  # the current (last, maybe partial) block
      pad = ((0, 0), (0, 0), (0, w - (t - start)), (0, 0))
      return {"k": jnp.pad(heads_major(k[:, start:]), pad),
              "v": jnp.pad(heads_major(v[:, start:]), pad)}
    if kind == "performer":  # the full pass's whole-sequence stabiliser, then a running max
      logits = _favor_logits(k, self.projection.value)  # [B, T, H, m]
      c = jnp.max(logits, axis=(1, 3))  # [B, H]
      phi_k = jnp.exp(logits - c[:, None, :, None]) / math.sqrt(self.num_features)
      return {"s": jnp.einsum("bthf,bthe->bhfe", phi_k, v), "z": phi_k.sum(1), "c": c}
    phi_k = self.feature_map(k)
    cache = {"s": jnp.einsum("bthf,bthe->bhfe", phi_k, v)}
    if kind == "linear":
      cache["z"] = phi_k.sum(1)
    return cache

  def init_cache(self, batch_size: int, cache_len: int):
    """An empty cache (shapes only; no parameters are read)."""
    return empty_cache(self.kind, batch_size, cache_len, num_heads=self.num_heads,
                       head_dim=self.head_dim, block_size=self.block_size,
                       num_features=self.num_features, conv_size=self.conv_size)

  def decode(self, x: jax.Array, cache, position: jax.Array):
    """One new position: `x [B, F]` at `position` (a scalar int) -> (`[B, F]`, new cache)."""
    projected = self.qkv(x).astype(jnp.float32)  # [B, 3HD]
    conv_cache = {}
    if self.conv_size:  # the last conv_size - 1 projections, oldest first, then this one
      window = jnp.concatenate([cache["conv"], projected[:, None]], axis=1)
      projected = jnp.sum(self.conv_kernel * window, axis=1)
      conv_cache = {"conv": window[:, 1:]}
    q, k, v = self._split(projected)  # [B, H, D]
    kind = self.kind
    if kind in ("softmax", "diag"):
      length = cache["k"].shape[2]
      slot = position if kind == "softmax" else position % self.block_size
      k_cache = lax.dynamic_update_slice_in_dim(cache["k"], k[:, :, None], slot, axis=2)
      v_cache = lax.dynamic_update_slice_in_dim(cache["v"], v[:, :, None], slot, axis=2)
      # softmax: every past position; diag: slots 0..slot hold the current block's keys.
      valid = jnp.arange(length) <= slot
      step = _relu_step if (kind == "diag" and self.diag_scores == "relu") else _softmax_step
      out = step(q, k_cache, v_cache, valid)
      new_cache = {"k": k_cache, "v": v_cache}
    elif kind == "performer":
      # Running maximum `c` of the keys' exponents: rescale the sums when it grows (as online
      # softmax does); it cancels in the ratio up to eps.
      projection = self.projection.value
      logits = _favor_logits(k, projection)  # [B, H, m]
      c = jnp.maximum(cache["c"], jnp.max(logits, axis=-1))
      rescale = jnp.exp(cache["c"] - c)
      phi_k = jnp.exp(logits - c[..., None]) / math.sqrt(self.num_features)
      s = cache["s"] * rescale[..., None, None] + phi_k[..., None] * v[..., None, :]
      z = cache["z"] * rescale[..., None] + phi_k
      phi_q = favor_features(q[:, None], projection, is_query=True)[:, 0]
      out = (jnp.einsum("bhf,bhfe->bhe", phi_q, s)
             / (jnp.sum(phi_q * z, axis=-1, keepdims=True) + _EPS))
      new_cache = {"s": s, "z": z, "c": c}
    else:
      phi_q, phi_k = self.feature_map(q), self.feature_map(k)
      s = cache["s"] + phi_k[..., None] * v[..., None, :]
      out = jnp.einsum("bhf,bhfe->bhe", phi_q, s)
      new_cache = {"s": s}
      if kind == "linear":
        z = cache["z"] + phi_k
        out = out / (jnp.sum(phi_q * z, axis=-1, keepdims=True) + _EPS)
        new_cache["z"] = z
      else:
        out = _normalize(out, self.norm)
    return self._out(out, x.dtype), {**new_cache, **conv_cache}


def empty_cache(kind: str, batch_size: int, cache_len: int, *, num_heads: int, head_dim: int,
                block_size: int, num_features: int, conv_size: int = 0) -> dict[str, jax.Array]:
  """The zero cache of one attention layer before any position.

  softmax: `k, v [B, H, cache_len, D]`; diag: `k, v [B, H, block_size, D]` (a ring);
  linear: `s [B, H, D, D]`, `z [B, H, D]`; norm: `s`; performer: `s [B, H, m, D]`,
  `z [B, H, m]` and the running stabiliser `c [B, H]`. With a short convolution, also
  `conv [B, conv_size - 1, 3HD]`: the last projections `[q, k, v]` before the convolution.
  """
  b, h, d = batch_size, num_heads, head_dim
  if kind in ("softmax", "diag"):
    length = cache_len if kind == "softmax" else block_size
    cache = {"k": jnp.zeros((b, h, length, d)), "v": jnp.zeros((b, h, length, d))}
  elif kind == "performer":
    m = num_features
    cache = {"s": jnp.zeros((b, h, m, d)), "z": jnp.zeros((b, h, m)),
             "c": jnp.full((b, h), -1e30)}
  else:
    cache = {"s": jnp.zeros((b, h, d, d))}
    if kind == "linear":
      cache["z"] = jnp.zeros((b, h, d))
  if conv_size:
    cache["conv"] = jnp.zeros((b, conv_size - 1, 3 * h * d))
  return cache


class Block(nn.Module):
  """A pre-norm block: `x + Attn(RMSNorm(x))`, then `x + FFN(RMSNorm(x))`.

  FFN: `"mlp"` is `Dense(r·F) → GELU → Dense(F)`; `"glu"` (SwiGLU) is
  `Dense(F)(silu(Dense(r·F)(x)) ⊙ Dense(r·F)(x))`, with hidden width `r·F` in both (so the GLU
  has 1.5× the MLP's parameters).
  """
  features: int
  num_heads: int
  kind: str = "softmax"
  variant: str = "t2"
  mlp: str = "glu"
  mlp_ratio: int = 4
  block_size: int = 16
  num_features: int = 64
  chunk_size: int = 64
  conv_size: int = 0
  dtype: Any = jnp.float32

  def setup(self):
    if self.mlp not in ("mlp", "glu"):
      raise ValueError(f"mlp must be 'mlp' or 'glu', got {self.mlp!r}.")
    if self.mlp_ratio < 1:
      raise ValueError(f"mlp_ratio must be >= 1, got {self.mlp_ratio}.")
    if self.features % self.num_heads:
      raise ValueError(f"width {self.features} is not a multiple of num_heads {self.num_heads}.")
    self.attention_norm = nn.RMSNorm(dtype=self.dtype)
    self.attention = CausalSelfAttention(
      self.features, self.num_heads, self.features // self.num_heads, kind=self.kind,
      variant=self.variant, block_size=self.block_size, num_features=self.num_features,
      chunk_size=self.chunk_size, conv_size=self.conv_size, dtype=self.dtype)
    self.mlp_norm = nn.RMSNorm(dtype=self.dtype)
    hidden = self.mlp_ratio * self.features
    self.mlp_in = nn.Dense((2 if self.mlp == "glu" else 1) * hidden, dtype=self.dtype,
                           kernel_init=scaled_normal)
    self.mlp_out = nn.Dense(self.features, dtype=self.dtype, kernel_init=scaled_normal)

  def _ffn(self, x):
    h = self.mlp_in(self.mlp_norm(x))
    if self.mlp == "glu":
      gate, h = jnp.split(h, 2, axis=-1)
      h = jax.nn.silu(gate) * h
    else:
      h = jax.nn.gelu(h)
    return x + self.mlp_out(h).astype(x.dtype)

  def __call__(self, x):
    return self._ffn(x + self.attention(self.attention_norm(x)))

  def prefill(self, x, cache_len: int):
    h, cache = self.attention.prefill(self.attention_norm(x), cache_len)
    return self._ffn(x + h), cache

  def decode(self, x, cache, position):
    h, cache = self.attention.decode(self.attention_norm(x), cache, position)
    return self._ffn(x + h), cache


class TransformerLM(nn.Module):
  """A decoder-only causal language model with a per-layer attention kind (see the module doc).

  `model.apply(variables, tokens)` gives the logits `[B, T, V]` of the full causal pass;
  `variables = model.init(key, tokens)` holds `"params"` and, with performer layers, the
  non-trainable `"performer"` projections (train `variables["params"]` only). The methods
  `prefill` and `decode` (used by `research.models.decoding`) run the same model incrementally.

  Attributes:
    vocab_size: `V`.
    num_layers: blocks `L`.
    width: model width `F` (a multiple of `num_heads`; head dim `F / H`).
    num_heads: heads `H`.
    attention: one kind for every layer, a tuple of `num_layers` kinds, or `"transnormer"`
      (diag below, norm above). Kinds: `"softmax" | "linear" | "performer" | "norm" | "diag"`.
    max_len: number of learned positions (the longest sequence, prompt + generation).
    mlp: `"mlp"` (GELU) or `"glu"` (SwiGLU).
    mlp_ratio: hidden width of the channel mixer relative to `F`.
    tie_embeddings: output head `= Eᵀ` (True) or its own `Dense(V)` without bias.
    block_size: DiagAttention's block length.
    num_features: FAVOR+ features per performer layer.
    variant: TransNormer settings of diag and norm layers, `"t1"` or `"t2"`.
    chunk_size: chunk length of the causal linear kernels (speed only).
    conv_size: width `c` of a short causal depthwise convolution over the projected `q, k, v`
      of every layer (0: none); see the module doc.
    dtype: computation dtype (parameters and attention stay float32).
  """
  vocab_size: int
  num_layers: int = 2
  width: int = 64
  num_heads: int = 4
  attention: str | tuple[str, ...] = "softmax"
  max_len: int = 128
  mlp: str = "glu"
  mlp_ratio: int = 4
  tie_embeddings: bool = True
  block_size: int = 16
  num_features: int = 64
  variant: str = "t2"
  chunk_size: int = 64
  conv_size: int = 0
  dtype: Any = jnp.float32

  def setup(self):
    if self.num_layers < 1:
      raise ValueError(f"num_layers must be >= 1, got {self.num_layers}.")
    self.kinds = layer_kinds(self)
    self.embed = nn.Embed(self.vocab_size, self.width, embedding_init=normal_flat(0.02))
    self.position_embedding = self.param("position_embedding", normal_flat(0.02),
                                         (self.max_len, self.width))
    self.blocks = [
      Block(self.width, self.num_heads, kind=kind, variant=self.variant, mlp=self.mlp,
            mlp_ratio=self.mlp_ratio, block_size=self.block_size,
            num_features=self.num_features, chunk_size=self.chunk_size,
            conv_size=self.conv_size, dtype=self.dtype, name=f"block_{i}")
      for i, kind in enumerate(self.kinds)]
    self.final_norm = nn.RMSNorm(dtype=self.dtype)
    if not self.tie_embeddings:
      self.head = nn.Dense(self.vocab_size, use_bias=False, dtype=self.dtype,
                           kernel_init=scaled_normal)

  def _embed(self, tokens, positions):
    x = self.embed(tokens) + self.position_embedding[positions]
    return x.astype(self.dtype)

  def _logits(self, x):
    x = self.final_norm(x)
    if self.tie_embeddings:
      logits = self.embed.attend(x)
    else:
      logits = self.head(x)
    return logits.astype(jnp.float32)

  def _check(self, tokens, rank):
    if tokens.ndim != rank:
      raise ValueError(f"tokens must have rank {rank}, got shape {tokens.shape}.")
    if rank == 2 and tokens.shape[1] > self.max_len:
      raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_len = {self.max_len}.")

  def __call__(self, tokens: jax.Array) -> jax.Array:
    """Logits `[B, T, V]` (float32) of `tokens [B, T]`: position `t` sees tokens `0..t`."""
    self._check(tokens, 2)
    x = self._embed(tokens, jnp.arange(tokens.shape[1]))
    for block in self.blocks:
      x = block(x)
    return self._logits(x)

  def prefill(self, tokens: jax.Array, cache_len: int):
    """The full pass over `tokens [B, T]`: (logits `[B, T, V]`, per-layer caches after `T`)."""
    self._check(tokens, 2)
    x = self._embed(tokens, jnp.arange(tokens.shape[1]))
    caches = []
    for block in self.blocks:
      x, cache = block.prefill(x, cache_len)
      caches.append(cache)
    return self._logits(x), tuple(caches)

  def decode(self, tokens: jax.Array, caches, position: jax.Array):
    """One step: `tokens [B]` at `position` (scalar) -> (logits `[B, V]`, new caches)."""
    self._check(tokens, 1)
    x = self._embed(tokens, position)
    new = []
    for block, cache in zip(self.blocks, caches, strict=True):
      x, cache = block.decode(x, cache, position)
      new.append(cache)
    return self._logits(x), tuple(new)
