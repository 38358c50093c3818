"""research.attention: softmax, linear (chunked), Performer (FAVOR+) and TransNormer attention.

Shapes follow `jax.nn.dot_product_attention`: `q, k, v: [..., T, H, D]`, outputs `[..., T, H, Dv]`.
"""
from research.attention.layers import (
  KINDS,
  MultiHeadAttention,
  TransNormerBlock,
  TransNormerStack,
  transnormer_layer_kinds,
)
from research.attention.linear import elu_plus_one, kernelized_attention, linear_attention
from research.attention.performer import (
  favor_features,
  gaussian_orthogonal_random_matrix,
  gaussian_random_matrix,
  performer_attention,
  positive_random_features,
  trig_random_features,
)
from research.attention.softmax import softmax_attention
from research.attention.transnormer import (
  diag_attention,
  layer_norm,
  norm_attention,
  rms_norm,
  simple_rms_norm,
)

__all__ = [
  "KINDS",
  "MultiHeadAttention",
  "TransNormerBlock",
  "TransNormerStack",
  "diag_attention",
  "elu_plus_one",
  "favor_features",
  "gaussian_orthogonal_random_matrix",
  "gaussian_random_matrix",
  "kernelized_attention",
  "layer_norm",
  "linear_attention",
  "norm_attention",
  "performer_attention",
  "positive_random_features",
  "rms_norm",
  "simple_rms_norm",
  "softmax_attention",
  "transnormer_layer_kinds",
  "trig_random_features",
]
