"""Flax (linen) layers: multi-head attention whose `kind` picks the variant; TransNormer.

`MultiHeadAttention` is the one attention layer of the codebase: research.attention's flax layer
and every layer of `research.models.TransformerLM` (which sets `fused=True`, `conv_size`,
`causal=True` and `attention_dtype=float32`). Its kernels come from the registry
`research.attention.kinds.KERNELS`: the full pass calls a kind's `full` form, `prefill` also its
`final_state`, `decode` its recurrent `step`; `init_cache` is its `init_state`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from research import checks
from research.attention.kinds import (
  KERNELS,
  KINDS,
  Options,
  transnormer_layer_kinds,
  variant_settings,
)
from research.attention.linear import elu_plus_one
from research.attention.performer import gaussian_orthogonal_random_matrix

__all__ = ["KINDS", "MultiHeadAttention", "TransNormerBlock", "TransNormerStack",
           "transnormer_layer_kinds"]


class MultiHeadAttention(nn.Module):
  """Multi-head attention with query/key/value/output projections; `kind` picks the attention.

  `kind` is one of `"softmax"` (`softmax_attention`), `"linear"` (`linear_attention`),
  `"performer"` (`performer_attention`), `"norm"` (`norm_attention`, followed by a learnable
  per-channel gain for `norm="rms"` and a gain and bias for `"layer"`; SimpleRMSNorm has none)
  and `"diag"` (`diag_attention`).

  Performer features: by default the projection `W [num_features, head_dim]` is drawn once from
  the `"params"` key at `init` and kept as the non-trainable variable `("performer",
  "projection")`; pass that collection with the parameters to `apply`, and redraw by replacing
  it (e.g. with `gaussian_orthogonal_random_matrix(new_key, ...)`). With `redraw=True` a fresh
  projection is drawn on every call from the `"performer"` RNG stream
  (`apply(..., rngs={"performer": key})`). A `projection` passed to `__call__` overrides both.
  No hidden state: the caller's keys decide every draw.

  Projections: separate `DenseGeneral`s `query`, `key`, `value` (kernels `[F, H, D]`) and `out`
  (`[H, D, F_out]`) by default; with `fused=True` one `Dense` `qkv` (`[F, 3·H·D]`, columns
  ordered `[q, k, v]`, then heads) and a `Dense` `out` over the concatenated heads
  (`[H·D, F_out]`), the language model's layout (self-attention only).

  Short convolution (`conv_size = c > 0`, self-attention only): the projections `[q, k, v]_t`
  go through a causal depthwise convolution of width `c` before attention,
  `y_t = Σ_{i<c} w_i ⊙ x_{t-c+1+i}` (zero before the sequence; `conv_kernel [c, 3HD]`, no bias),
  as in H3, Based and the flash-linear-attention layers.

  Decoding (causal self-attention): `prefill(x [..., T, F], cache_len)` is the full pass that
  also returns the cache after its last position; `decode(x [..., F], cache, position)` attends
  from one new position (the kind's recurrent `step`); `init_cache(batch_size, cache_len)` is
  the empty cache (no parameters are read: it works on an unbound layer). The cache is the
  kind's state (see `research.attention.kinds`) and, with a convolution, `"conv"
  [B, c − 1, 3HD]`, the last projections before it.

  Mixed precision: projections run in `dtype` (default: the input's dtype); with
  `attention_dtype` set, the projections are cast to it before attention (the language model:
  float32), else the attention functions upcast to float32 inside and return the projections'
  dtype. The output has the input's dtype.

  See 'Attention Is All You Need' by Vaswani et al. (https://arxiv.org/abs/1706.03762),
  'Hungry Hungry Hippos' by Fu et al. (https://arxiv.org/abs/2212.14052).

  Attributes:
    num_heads: number of heads `H`.
    head_dim: per-head dimension `D` of queries, keys and values.
    kind: the attention variant.
    causal: causal (decoder) attention.
    out_features: output features (default: the input's last dimension).
    use_bias: biases in the projections.
    dtype: computation dtype of the projections (default: the input's dtype).
    param_dtype: dtype of the parameters.
    kernel_init: initialiser of the projection (and convolution) kernels.
    chunk_size: chunk length of the causal linear kernels ("linear", "performer", "norm").
    feature_map: `φ` of "linear" and "norm".
    eps: epsilon of the denominators ("linear", "performer") and norms ("norm", "diag").
    num_features: random features `m` ("performer").
    performer_kind: `"positive"` or `"trig"` ("performer"; decoding: positive only).
    orthogonal: orthogonal random features ("performer").
    scaling: row norms `"chi"` or `"sqrt_d"` ("performer").
    redraw: draw the projection from the `"performer"` RNG stream on every call ("performer").
    norm: `"rms"`, `"simple_rms"` or `"layer"` ("norm").
    block_size: block length `w` ("diag").
    diag_scores: `"softmax"` or `"relu"` ("diag").
    fused: one `qkv` projection and an `out` over the concatenated heads (see above).
    conv_size: width of the short causal convolution over `[q, k, v]` (0: none).
    attention_dtype: dtype the projections are cast to before attention (None: theirs).
  """
  num_heads: int
  head_dim: int
  kind: str = "softmax"
  causal: bool = False
  out_features: int | None = None
  use_bias: bool = False
  dtype: Any = None
  param_dtype: Any = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()
  chunk_size: int = 64
  feature_map: Callable[[jax.Array], jax.Array] = elu_plus_one
  eps: float = 1e-6
  num_features: int = 256
  performer_kind: str = "positive"
  orthogonal: bool = True
  scaling: str = "chi"
  redraw: bool = False
  norm: str = "rms"
  block_size: int = 64
  diag_scores: str = "softmax"
  fused: bool = False
  conv_size: int = 0
  attention_dtype: Any = None

  def options(self, projection: jax.Array | None = None) -> Options:
    """The settings the kind's functions read (`research.attention.kinds.Options`)."""
    return Options(
      num_heads=self.num_heads, head_dim=self.head_dim, causal=self.causal,
      chunk_size=self.chunk_size, eps=self.eps, feature_map=self.feature_map,
      num_features=self.num_features, projection=projection, performer_kind=self.performer_kind,
      norm=self.norm, block_size=self.block_size, diag_scores=self.diag_scores)

  def _check(self) -> None:
    checks.choice(self.kind, "kind", KINDS)
    checks.static_int(self.num_heads, "num_heads")
    checks.static_int(self.head_dim, "head_dim")
    if self.conv_size < 0:
      raise ValueError(f"conv_size must be >= 0 (0: no short convolution), got {self.conv_size}.")
    if self.kind == "diag":
      checks.static_int(self.block_size, "block_size")
    if self.kind == "performer":
      checks.static_int(self.num_features, "num_features")

  def _check_inputs(self, inputs_q, inputs_kv, *, incremental: bool, decoding: bool) -> None:
    rank = 1 if decoding else 2
    if jnp.ndim(inputs_q) < rank:
      layout = "[..., F]" if decoding else "[..., T, F]"
      raise ValueError(f"inputs_q must have rank >= {rank} {layout}, got {jnp.shape(inputs_q)}.")
    if inputs_kv is not None and (self.fused or self.conv_size or incremental):
      raise ValueError("fused projections, the short convolution, prefill and decode need "
                       "self-attention (no inputs_kv).")
    if incremental and not self.causal:
      raise ValueError("prefill and decode need causal=True.")

  def _projection(self) -> jax.Array:
    draw = lambda key: gaussian_orthogonal_random_matrix(
      key, self.num_features, self.head_dim, scaling=self.scaling, orthogonal=self.orthogonal)
    if self.redraw:
      return draw(self.make_rng("performer"))
    return self.variable("performer", "projection", lambda: draw(self.make_rng("params"))).value

  def _cast(self, x: jax.Array) -> jax.Array:
    return x if self.attention_dtype is None else x.astype(self.attention_dtype)

  def _split(self, flat: jax.Array):
    """`[..., 3HD] -> q, k, v [..., H, D]`."""
    qkv = flat.reshape(flat.shape[:-1] + (3, self.num_heads, self.head_dim))
    return qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]

  def _conv(self, flat: jax.Array, cache):
    """The short convolution of `flat [..., T, 3HD]` (full pass) or of one position
    `[..., 3HD]` after `cache["conv"]` (decoding); returns it and the last `c − 1` inputs."""
    c = self.conv_size
    kernel = self.param("conv_kernel", self.kernel_init, (c, flat.shape[-1]), self.param_dtype)
    if cache is not None:  # the last c - 1 projections, oldest first, then this one
      window = jnp.concatenate([cache["conv"], flat[..., None, :]], axis=-2)
      return jnp.sum(kernel * window, axis=-2), window[..., 1:, :]
    # Left-pad with c - 1 zeros: y_t = Σ_i w_i x_{t - (c-1) + i} (causal, depthwise).
    t = flat.shape[-2]
    padded = jnp.pad(flat, [(0, 0)] * (flat.ndim - 2) + [(c - 1, 0), (0, 0)])
    mixed = sum(kernel[i] * padded[..., i:i + t, :] for i in range(c))
    return mixed, padded[..., padded.shape[-2] - (c - 1):, :]

  def _qkv(self, inputs_q, inputs_kv, dtype, cache):
    """`q, k, v [..., (T,) H, D]` after the projections and the convolution, and the
    convolution's window (None without one)."""
    h, d = self.num_heads, self.head_dim
    dense = dict(use_bias=self.use_bias, dtype=dtype, param_dtype=self.param_dtype,
                 kernel_init=self.kernel_init)
    if self.fused:
      flat = self._cast(nn.Dense(3 * h * d, name="qkv", **dense)(inputs_q))
    else:
      project = lambda name, x: self._cast(
        nn.DenseGeneral((h, d), axis=-1, name=name, **dense)(x))
      kv = inputs_q if inputs_kv is None else inputs_kv
      q, k, v = project("query", inputs_q), project("key", kv), project("value", kv)
      if not self.conv_size:
        return q, k, v, None
      flat = jnp.stack([q, k, v], axis=-3).reshape(q.shape[:-2] + (3 * h * d,))
    window = None
    if self.conv_size:
      flat, window = self._conv(flat, cache)
    return (*self._split(flat), window)

  def _output(self, out: jax.Array, features: int, dtype) -> jax.Array:
    """The norm's gain and bias ("norm"), then the output projection."""
    shape = (self.num_heads, self.head_dim)
    if self.kind == "norm" and self.norm in ("rms", "layer"):
      gain = self.param("norm_scale", nn.initializers.ones, shape, self.param_dtype)
      out = out * gain.astype(out.dtype)
    if self.kind == "norm" and self.norm == "layer":
      bias = self.param("norm_bias", nn.initializers.zeros, shape, self.param_dtype)
      out = out + bias.astype(out.dtype)
    dense = dict(use_bias=self.use_bias, dtype=dtype, param_dtype=self.param_dtype,
                 kernel_init=self.kernel_init, name="out")
    features = self.out_features or features
    if self.fused:
      return nn.Dense(features, **dense)(out.reshape(out.shape[:-2] + (-1,)).astype(dtype))
    return nn.DenseGeneral(features, axis=(-2, -1), **dense)(out)

  @nn.compact
  def __call__(self, inputs_q: jax.Array, inputs_kv: jax.Array | None = None, *,
               projection: jax.Array | None = None, cache_len: int | None = None,
               cache: dict[str, jax.Array] | None = None, position: jax.Array | None = None):
    """Applies the attention: the full pass, or with `cache_len` the prefill, or with `cache`
    one decoding step (prefer the `prefill` and `decode` methods).

    Args:
      inputs_q: `[..., T, F]` (decoding: one position `[..., F]`).
      inputs_kv: `[..., S, F']` for cross-attention (non-causal); default `inputs_q`.
      projection: an explicit performer projection `[num_features, head_dim]`.
      cache_len: prefill: the cache's length (softmax keeps `cache_len` key/value slots).
      cache: decoding: the cache after positions `0..position-1`.
      position: decoding: the position of `inputs_q` (an int scalar, may be traced).

    Returns:
      `[..., T, out_features]` in the dtype of `inputs_q`; with `cache_len` or `cache`, also the
      cache after the last position.
    """
    self._check()
    decoding = cache is not None
    self._check_inputs(inputs_q, inputs_kv, incremental=decoding or cache_len is not None,
                       decoding=decoding)
    in_dtype = inputs_q.dtype
    dtype = self.dtype if self.dtype is not None else in_dtype
    q, k, v, window = self._qkv(inputs_q, inputs_kv, dtype, cache)
    if self.kind == "performer" and projection is None:
      projection = self._projection()
    options = self.options(projection)
    kernel = KERNELS[self.kind]
    if decoding:
      state = {name: x for name, x in cache.items() if name != "conv"}
      state, out = kernel.step(state, q, k, v, position, options)
    else:
      out = kernel.full(q, k, v, options)
    out = self._output(out, inputs_q.shape[-1], dtype).astype(in_dtype)
    if not decoding and cache_len is None:
      return out
    if not decoding:
      state = kernel.final_state(k, v, cache_len, options)
    return out, state if window is None else {**state, "conv": window}

  def prefill(self, x: jax.Array, cache_len: int, *, projection: jax.Array | None = None):
    """The full causal pass over `x [..., T, F]`: (`[..., T, F_out]`, the cache after `T`)."""
    return self(x, cache_len=cache_len, projection=projection)

  def decode(self, x: jax.Array, cache: dict[str, jax.Array], position: jax.Array, *,
             projection: jax.Array | None = None):
    """One new position: `x [..., F]` at `position` -> (`[..., F_out]`, the new cache)."""
    return self(x, cache=cache, position=position, projection=projection)

  def init_cache(self, batch_size: int, cache_len: int) -> dict[str, jax.Array]:
    """The empty cache for `batch_size` rows and up to `cache_len` positions (no parameters)."""
    self._check()
    cache = KERNELS[self.kind].init_state(batch_size, cache_len, self.options())
    if self.conv_size:
      width = 3 * self.num_heads * self.head_dim
      cache["conv"] = jnp.zeros((batch_size, self.conv_size - 1, width))
    return cache


class TransNormerBlock(nn.Module):
  """A pre-norm TransNormer block: `x + Attn(RMSNorm(x))`, then `x + MLP(RMSNorm(x))`.

  `attention` is `"diag"` (DiagAttention, lower layers) or `"norm"` (NormAttention, upper
  layers); `variant` picks the published settings (`"t1"`: ReLU block scores, `φ = elu`,
  SimpleRMSNorm; `"t2"`: softmax block scores, `φ = 1 + elu`, LayerNorm), and `norm`, when set,
  overrides NormAttention's normalisation. The MLP is `Dense(mlp_ratio·F) → GELU → Dense(F)`.

  See 'The Devil in Linear Transformer' by Qin et al. (https://arxiv.org/abs/2210.10340).

  Attributes:
    num_heads: heads `H`.
    head_dim: per-head dimension.
    attention: `"diag"` or `"norm"`.
    variant: `"t1"` or `"t2"`.
    causal: causal (decoder) attention.
    block_size: DiagAttention's block length.
    chunk_size: NormAttention's causal chunk length.
    norm: NormAttention's normalisation (default: the variant's).
    mlp_ratio: hidden width of the MLP relative to the model width.
    dtype: computation dtype (default: the input's dtype).
    param_dtype: dtype of the parameters.
  """
  num_heads: int
  head_dim: int
  attention: str = "norm"
  variant: str = "t2"
  causal: bool = True
  block_size: int = 64
  chunk_size: int = 64
  norm: str | None = None
  mlp_ratio: int = 4
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies the block to `x: [..., T, F]`; returns `[..., T, F]` in the dtype of `x`."""
    checks.choice(self.attention, "attention", ("diag", "norm"))
    settings = variant_settings(self.variant)
    if self.norm is not None:
      settings["norm"] = self.norm
    dtype = self.dtype if self.dtype is not None else x.dtype
    features = x.shape[-1]
    h = nn.RMSNorm(dtype=dtype, param_dtype=self.param_dtype, name="attention_norm")(x)
    h = MultiHeadAttention(self.num_heads, self.head_dim, kind=self.attention,
                           causal=self.causal, block_size=self.block_size,
                           chunk_size=self.chunk_size, dtype=dtype, param_dtype=self.param_dtype,
                           name="attention", **settings)(h)
    x = x + h.astype(x.dtype)
    h = nn.RMSNorm(dtype=dtype, param_dtype=self.param_dtype, name="mlp_norm")(x)
    h = nn.Dense(self.mlp_ratio * features, dtype=dtype, param_dtype=self.param_dtype,
                 name="mlp_in")(h)
    h = nn.Dense(features, dtype=dtype, param_dtype=self.param_dtype, name="mlp_out")(nn.gelu(h))
    return (x + h.astype(x.dtype)).astype(x.dtype)


class TransNormerStack(nn.Module):
  """A stack of `TransNormerBlock`s: DiagAttention below, NormAttention above.

  The kinds per layer come from `transnormer_layer_kinds(num_layers)` unless `layer_kinds`
  gives them explicitly. A final RMSNorm is applied. Embeddings and the output head belong to
  the language model that uses this stack.

  See 'The Devil in Linear Transformer' by Qin et al. (https://arxiv.org/abs/2210.10340).

  Attributes:
    num_layers: number of blocks.
    num_heads: heads per block.
    head_dim: per-head dimension.
    variant: `"t1"` or `"t2"`.
    causal: causal (decoder) attention.
    block_size: DiagAttention's block length.
    chunk_size: NormAttention's causal chunk length.
    layer_kinds: optional explicit `"diag"`/`"norm"` per layer.
    mlp_ratio: MLP hidden width relative to the model width.
    dtype: computation dtype (default: the input's dtype).
    param_dtype: dtype of the parameters.
  """
  num_layers: int
  num_heads: int
  head_dim: int
  variant: str = "t2"
  causal: bool = True
  block_size: int = 64
  chunk_size: int = 64
  layer_kinds: Sequence[str] | None = None
  mlp_ratio: int = 4
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies the stack to `x: [..., T, F]`; returns `[..., T, F]` in the dtype of `x`."""
    kinds = (tuple(self.layer_kinds) if self.layer_kinds is not None
             else transnormer_layer_kinds(self.num_layers))
    if len(kinds) != self.num_layers:
      raise ValueError(
        f"layer_kinds must have num_layers = {self.num_layers} entries, got {len(kinds)}.")
    for i, kind in enumerate(kinds):
      x = TransNormerBlock(self.num_heads, self.head_dim, attention=kind, variant=self.variant,
                           causal=self.causal, block_size=self.block_size,
                           chunk_size=self.chunk_size, mlp_ratio=self.mlp_ratio,
                           dtype=self.dtype, param_dtype=self.param_dtype,
                           name=f"block_{i}")(x)
    dtype = self.dtype if self.dtype is not None else x.dtype
    return nn.RMSNorm(dtype=dtype, param_dtype=self.param_dtype, name="final_norm")(x)
