"""The registry of attention kinds: one table of each kind's full form, decoding state and step.

As flash-linear-attention keeps each op's chunked form, recurrent form and state side by side
(`fla/ops/linear_attn/`), every kind here is a `Kernel` of four functions over one `Options`:

- `full(q, k, v, o)`: the whole sequence at once, `q, k, v [..., T, H, D] -> [..., T, H, Dv]`;
- `init_state(batch_size, cache_len, o)`: the decoding state before any position;
- `final_state(k, v, cache_len, o)`: the state after positions `0..T-1` (a prompt);
- `step(state, q, k, v, position, o)`: one causal position, `[B, H, D] -> (state, [B, H, Dv])`.

Stepping a causal sequence through `step` from `init_state` (or from `final_state` of a prefix)
gives the causal `full` form up to rounding (Performer: up to its stabiliser's `eps`, see
`performer_step`). The layer (`research.attention.MultiHeadAttention`) and the language model's
decoding look kinds up here; TransNormer's published settings of the diag and norm kinds are
`variant_settings`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from research import checks
from research.attention.linear import (
  elu_plus_one,
  linear_attention,
  linear_final_state,
  linear_init_state,
  linear_step,
)
from research.attention.performer import (
  performer_attention,
  performer_final_state,
  performer_init_state,
  performer_step,
)
from research.attention.softmax import (
  softmax_attention,
  softmax_final_state,
  softmax_init_state,
  softmax_step,
)
from research.attention.transnormer import (
  diag_attention,
  diag_final_state,
  diag_init_state,
  diag_step,
  norm_attention,
  norm_final_state,
  norm_init_state,
  norm_step,
)

KINDS = ("softmax", "linear", "performer", "norm", "diag")
VARIANTS = ("t1", "t2")


def variant_settings(variant: str) -> dict[str, Any]:
  """TransNormer's published settings of its diag and norm attentions.

  `"t1"`: ReLU block scores + SimpleRMSNorm (diag), NormAttention with `φ = elu` and
  SimpleRMSNorm. `"t2"`: softmax block scores (diag), NormAttention with `φ = 1 + elu` and
  LayerNorm.

  See 'The Devil in Linear Transformer' by Qin et al. (https://arxiv.org/abs/2210.10340).

  Args:
    variant: `"t1"` or `"t2"`.

  Returns:
    `{"diag_scores", "feature_map", "norm"}` (fields of `MultiHeadAttention` and `Options`).
  """
  checks.choice(variant, "variant", VARIANTS)
  if variant == "t1":
    return dict(diag_scores="relu", feature_map=jax.nn.elu, norm="simple_rms")
  return dict(diag_scores="softmax", feature_map=elu_plus_one, norm="layer")


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
  num_layers = checks.static_int(num_layers, "num_layers")
  return tuple("diag" if i < num_layers // 2 else "norm" for i in range(num_layers))


@dataclasses.dataclass(frozen=True)
class Options:
  """The settings of one attention layer that its kind's functions read.

  Attributes:
    num_heads: heads `H`.
    head_dim: per-head dimension `D` of queries, keys and values.
    causal: causal attention (the full form; decoding is always causal).
    chunk_size: chunk length of the causal linear kernels ("linear", "performer", "norm").
    eps: epsilon of the denominators ("linear", "performer") and norms ("norm", "diag").
    feature_map: `φ` of "linear" and "norm".
    num_features: random features `m` ("performer").
    projection: the FAVOR+ projection `W [m, D]` ("performer"; not needed by `init_state`).
    performer_kind: `"positive"` or `"trig"` ("performer"; decoding: positive only).
    norm: `"rms"`, `"simple_rms"` or `"layer"` ("norm").
    block_size: block length `w` ("diag").
    diag_scores: `"softmax"` or `"relu"` ("diag").
  """
  num_heads: int
  head_dim: int
  causal: bool = True
  chunk_size: int = 64
  eps: float = 1e-6
  feature_map: Callable[[jax.Array], jax.Array] = elu_plus_one
  num_features: int = 256
  projection: jax.Array | None = None
  performer_kind: str = "positive"
  norm: str = "rms"
  block_size: int = 64
  diag_scores: str = "softmax"


class Kernel(NamedTuple):
  """One attention kind: its full form, its decoding state (empty, after a prompt) and step."""
  full: Callable[..., jax.Array]
  init_state: Callable[..., dict[str, jax.Array]]
  final_state: Callable[..., dict[str, jax.Array]]
  step: Callable[..., tuple[dict[str, jax.Array], jax.Array]]


def _positive(o: Options) -> jax.Array:
  """The projection, after checking that decoding supports the features (positive only)."""
  if o.performer_kind != "positive":
    raise ValueError(f"performer decoding needs performer_kind='positive', got "
                     f"{o.performer_kind!r}.")
  return o.projection


KERNELS: dict[str, Kernel] = {
  "softmax": Kernel(
    full=lambda q, k, v, o: softmax_attention(q, k, v, causal=o.causal),
    init_state=lambda b, n, o: softmax_init_state(b, o.num_heads, n, o.head_dim),
    final_state=lambda k, v, n, o: softmax_final_state(k, v, n),
    step=lambda s, q, k, v, t, o: softmax_step(s, q, k, v, t)),
  "linear": Kernel(
    full=lambda q, k, v, o: linear_attention(q, k, v, causal=o.causal, feature_map=o.feature_map,
                                             chunk_size=o.chunk_size, eps=o.eps),
    init_state=lambda b, n, o: linear_init_state(b, o.num_heads, o.head_dim),
    final_state=lambda k, v, n, o: linear_final_state(k, v, feature_map=o.feature_map),
    step=lambda s, q, k, v, t, o: linear_step(s, q, k, v, feature_map=o.feature_map, eps=o.eps)),
  "performer": Kernel(
    full=lambda q, k, v, o: performer_attention(q, k, v, o.projection, causal=o.causal,
                                                kind=o.performer_kind, chunk_size=o.chunk_size,
                                                eps=o.eps),
    init_state=lambda b, n, o: performer_init_state(b, o.num_heads, o.num_features, o.head_dim),
    final_state=lambda k, v, n, o: performer_final_state(k, v, _positive(o)),
    step=lambda s, q, k, v, t, o: performer_step(s, q, k, v, _positive(o), eps=o.eps)),
  "norm": Kernel(
    full=lambda q, k, v, o: norm_attention(q, k, v, causal=o.causal, feature_map=o.feature_map,
                                           norm=o.norm, chunk_size=o.chunk_size, eps=o.eps),
    init_state=lambda b, n, o: norm_init_state(b, o.num_heads, o.head_dim),
    final_state=lambda k, v, n, o: norm_final_state(k, v, feature_map=o.feature_map),
    step=lambda s, q, k, v, t, o: norm_step(s, q, k, v, feature_map=o.feature_map, norm=o.norm,
                                            eps=o.eps)),
  "diag": Kernel(
    full=lambda q, k, v, o: diag_attention(q, k, v, block_size=o.block_size, causal=o.causal,
                                           scores=o.diag_scores, eps=o.eps),
    init_state=lambda b, n, o: diag_init_state(b, o.num_heads, o.block_size, o.head_dim),
    final_state=lambda k, v, n, o: diag_final_state(k, v, o.block_size),
    step=lambda s, q, k, v, t, o: diag_step(s, q, k, v, t, scores=o.diag_scores, eps=o.eps)),
}
