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

Every layer's attention is research.attention's one attention layer, `MultiHeadAttention`, in the
model's layout (`causal_attention`: one fused `qkv` projection, the short convolution, float32
attention). Incremental decoding (one token at a time) is the `decode` method: each layer looks up
its kind's recurrent step and state in the registry `research.attention.kinds.KERNELS` (the forms
live next to the full ones in `research.attention.softmax`, `linear`, `performer` and
`transnormer`): a KV cache for softmax layers (all past positions) and diag layers (a ring of
`block_size` slots: only the current block is attended), and the recurrent state
`S = Σ φ(k_j) v_jᵀ`, `z = Σ φ(k_j)` for linear, performer and norm layers (norm keeps no `z`).
`prefill` runs the full forward pass over a prompt and returns the same caches (each kind's
`final_state`); `research.models.decoding` builds sampling on them.

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

from research.attention import (
  KINDS,
  VARIANTS,
  MultiHeadAttention,
  elu_plus_one,
  gaussian_orthogonal_random_matrix,
  transnormer_layer_kinds,
  variant_settings,
)

__all__ = ["KINDS", "VARIANTS", "Block", "TransformerLM", "causal_attention", "empty_caches",
           "init_lm", "layer_kinds", "normal_flat", "param_count", "scaled_normal",
           "variant_settings"]
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


def causal_attention(kind: str, *, width: int, num_heads: int, variant: str, block_size: int,
                     num_features: int, chunk_size: int, conv_size: int, dtype: Any,
                     **kwargs) -> MultiHeadAttention:
  """The attention of a layer of `kind`: `MultiHeadAttention` in the language model's layout.

  Causal, one fused `qkv` projection and an `out` over the concatenated heads (no biases,
  `scaled_normal` kernels), the short convolution of width `conv_size`, attention in float32;
  `φ = elu + 1` for linear layers, TransNormer's `variant` settings for norm and diag layers.
  `kwargs` go to the module (e.g. `name`, or `parent=None` for an unbound copy).
  """
  settings = variant_settings(variant)
  return MultiHeadAttention(
    num_heads, width // num_heads, kind=kind, causal=True, out_features=width, dtype=dtype,
    kernel_init=scaled_normal, chunk_size=chunk_size,
    feature_map=settings["feature_map"] if kind == "norm" else elu_plus_one, eps=_EPS,
    num_features=num_features, norm=settings["norm"], block_size=block_size,
    diag_scores=settings["diag_scores"], fused=True, conv_size=conv_size,
    attention_dtype=jnp.float32, **kwargs)


def empty_caches(model: TransformerLM, batch_size: int, cache_len: int) -> tuple[dict, ...]:
  """The empty cache of every layer of `model` before any position (no parameter is read).

  Per layer, the kind's `init_state` (`research.attention.kinds.KERNELS`): softmax
  `k, v [B, H, cache_len, D]`; diag `k, v [B, H, block_size, D]` (a ring); linear
  `s [B, H, D, D]`, `z [B, H, D]`; norm `s`; performer `s [B, H, m, D]`, `z [B, H, m]` and the
  running stabiliser `c [B, H]`. With a short convolution, also `conv [B, conv_size - 1, 3HD]`:
  the last projections `[q, k, v]` before the convolution.
  """
  return tuple(
    causal_attention(kind, width=model.width, num_heads=model.num_heads, variant=model.variant,
                     block_size=model.block_size, num_features=model.num_features,
                     chunk_size=model.chunk_size, conv_size=model.conv_size, dtype=model.dtype,
                     parent=None).init_cache(batch_size, cache_len)
    for kind in layer_kinds(model))


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
    self.attention = causal_attention(
      self.kind, width=self.features, num_heads=self.num_heads, variant=self.variant,
      block_size=self.block_size, num_features=self.num_features, chunk_size=self.chunk_size,
      conv_size=self.conv_size, dtype=self.dtype)
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
