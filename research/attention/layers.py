"""Flax (linen) layers: multi-head attention whose `kind` picks the variant; TransNormer."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from research.attention import _common
from research.attention.linear import elu_plus_one, linear_attention
from research.attention.performer import gaussian_orthogonal_random_matrix, performer_attention
from research.attention.softmax import softmax_attention
from research.attention.transnormer import diag_attention, norm_attention

KINDS = ("softmax", "linear", "performer", "norm", "diag")
_VARIANTS = ("t1", "t2")


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

  Mixed precision: projections run in `dtype` (default: the input's dtype); the attention
  functions upcast to float32 inside, and the output has the input's dtype.

  Attributes:
    num_heads: number of heads `H`.
    head_dim: per-head dimension `D` of queries, keys and values.
    kind: the attention variant.
    causal: causal (decoder) attention.
    out_features: output features (default: the input's last dimension).
    use_bias: biases in the projections.
    dtype: computation dtype of the projections (default: the input's dtype).
    param_dtype: dtype of the parameters.
    kernel_init: initialiser of the projection kernels.
    chunk_size: chunk length of the causal linear kernels ("linear", "performer", "norm").
    feature_map: `φ` of "linear" and "norm".
    eps: epsilon of the denominators ("linear", "performer") and norms ("norm", "diag").
    num_features: random features `m` ("performer").
    performer_kind: `"positive"` or `"trig"` ("performer").
    orthogonal: orthogonal random features ("performer").
    scaling: row norms `"chi"` or `"sqrt_d"` ("performer").
    redraw: draw the projection from the `"performer"` RNG stream on every call ("performer").
    norm: `"rms"`, `"simple_rms"` or `"layer"` ("norm").
    block_size: block length `w` ("diag").
    diag_scores: `"softmax"` or `"relu"` ("diag").
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

  def _projection(self) -> jax.Array:
    draw = lambda key: gaussian_orthogonal_random_matrix(
      key, self.num_features, self.head_dim, scaling=self.scaling, orthogonal=self.orthogonal)
    if self.redraw:
      return draw(self.make_rng("performer"))
    return self.variable("performer", "projection", lambda: draw(self.make_rng("params"))).value

  @nn.compact
  def __call__(self, inputs_q: jax.Array, inputs_kv: jax.Array | None = None, *,
               projection: jax.Array | None = None) -> jax.Array:
    """Applies the attention.

    Args:
      inputs_q: `[..., T, F]`.
      inputs_kv: `[..., S, F']` for cross-attention (non-causal); default `inputs_q`.
      projection: an explicit performer projection `[num_features, head_dim]`.

    Returns:
      `[..., T, out_features]` in the dtype of `inputs_q`.
    """
    _common.check_choice(self.kind, "kind", KINDS)
    _common.check_positive_int(self.num_heads, "num_heads")
    _common.check_positive_int(self.head_dim, "head_dim")
    if jnp.ndim(inputs_q) < 2:
      raise ValueError(f"inputs_q must have rank >= 2 [..., T, F], got {jnp.shape(inputs_q)}.")
    if inputs_kv is None:
      inputs_kv = inputs_q
    in_dtype = inputs_q.dtype
    dtype = self.dtype if self.dtype is not None else in_dtype
    dense = lambda name: nn.DenseGeneral(
      (self.num_heads, self.head_dim), axis=-1, use_bias=self.use_bias, dtype=dtype,
      param_dtype=self.param_dtype, kernel_init=self.kernel_init, name=name)
    q = dense("query")(inputs_q)
    k = dense("key")(inputs_kv)
    v = dense("value")(inputs_kv)

    if self.kind == "softmax":
      out = softmax_attention(q, k, v, causal=self.causal)
    elif self.kind == "linear":
      out = linear_attention(q, k, v, causal=self.causal, feature_map=self.feature_map,
                             chunk_size=self.chunk_size, eps=self.eps)
    elif self.kind == "performer":
      if projection is None:
        projection = self._projection()
      out = performer_attention(q, k, v, projection, causal=self.causal,
                                kind=self.performer_kind, chunk_size=self.chunk_size,
                                eps=self.eps)
    elif self.kind == "norm":
      out = norm_attention(q, k, v, causal=self.causal, feature_map=self.feature_map,
                           norm=self.norm, chunk_size=self.chunk_size, eps=self.eps)
      if self.norm in ("rms", "layer"):
        gain = self.param("norm_scale", nn.initializers.ones,
                          (self.num_heads, self.head_dim), self.param_dtype)
        out = out * gain.astype(out.dtype)
      if self.norm == "layer":
        bias = self.param("norm_bias", nn.initializers.zeros,
                          (self.num_heads, self.head_dim), self.param_dtype)
        out = out + bias.astype(out.dtype)
    else:
      out = diag_attention(q, k, v, block_size=self.block_size, causal=self.causal,
                           scores=self.diag_scores, eps=self.eps)

    features = self.out_features or inputs_q.shape[-1]
    out = nn.DenseGeneral(features, axis=(-2, -1), use_bias=self.use_bias, dtype=dtype,
                          param_dtype=self.param_dtype, kernel_init=self.kernel_init,
                          name="out")(out)
    return out.astype(in_dtype)


def transnormer_layer_kinds(num_layers: int) -> tuple[str, ...]:
  """The attention of each TransNormer layer: `"diag"` in the lower half, `"norm"` above.

  Layer `i` (0 = closest to the input) uses DiagAttention when `i < num_layers // 2` and
  NormAttention otherwise (an odd count gives the extra layer to NormAttention).

  See 'The Devil in Linear Transformer' by Qin et al. (https://arxiv.org/abs/2210.10340).

  Args:
    num_layers: number of layers `>= 1`.

  Returns:
    A tuple of `num_layers` kinds.
  """
  num_layers = _common.check_positive_int(num_layers, "num_layers")
  return tuple("diag" if i < num_layers // 2 else "norm" for i in range(num_layers))


def _variant_settings(variant: str) -> dict[str, Any]:
  """T1: ReLU block scores + SimpleRMSNorm, NormAttention with `φ = elu` and SimpleRMSNorm.
  T2: softmax block scores, NormAttention with `φ = 1 + elu` and LayerNorm."""
  _common.check_choice(variant, "variant", _VARIANTS)
  if variant == "t1":
    return dict(diag_scores="relu", feature_map=jax.nn.elu, norm="simple_rms")
  return dict(diag_scores="softmax", feature_map=elu_plus_one, norm="layer")


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
    _common.check_choice(self.attention, "attention", ("diag", "norm"))
    settings = _variant_settings(self.variant)
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
