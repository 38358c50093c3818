"""research.attention: softmax, linear (chunked), Performer (FAVOR+) and TransNormer attention.

Shapes follow `jax.nn.dot_product_attention`: `q, k, v: [..., T, H, D]`, outputs `[..., T, H, Dv]`.
Every kind keeps its full (parallel or chunked) form, its one-position recurrent form for decoding
(`*_step(state, q_t, k_t, v_t, ...) -> (state, o_t)`, `q_t: [..., H, D]`) and its state
(`*_init_state`: empty; `*_final_state`: after a prompt) side by side in its module; `kinds` is the
registry of kinds (`KINDS`, `KERNELS`, `variant_settings`) and `layers` the flax layers built on it.
"""
from research.attention.kinds import (
  KERNELS,
  KINDS,
  VARIANTS,
  Kernel,
  Options,
  transnormer_layer_kinds,
  variant_settings,
)
from research.attention.layers import MultiHeadAttention, TransNormerBlock, TransNormerStack
from research.attention.linear import (
  elu_plus_one,
  kernelized_attention,
  linear_attention,
  linear_final_state,
  linear_init_state,
  linear_step,
)
from research.attention.performer import (
  favor_features,
  gaussian_orthogonal_random_matrix,
  gaussian_random_matrix,
  performer_attention,
  performer_final_state,
  performer_init_state,
  performer_step,
  positive_random_features,
  trig_random_features,
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
  layer_norm,
  norm_attention,
  norm_final_state,
  norm_init_state,
  norm_step,
  rms_norm,
  simple_rms_norm,
)

__all__ = [
  "KERNELS",
  "KINDS",
  "VARIANTS",
  "Kernel",
  "MultiHeadAttention",
  "Options",
  "TransNormerBlock",
  "TransNormerStack",
  "diag_attention",
  "diag_final_state",
  "diag_init_state",
  "diag_step",
  "elu_plus_one",
  "favor_features",
  "gaussian_orthogonal_random_matrix",
  "gaussian_random_matrix",
  "kernelized_attention",
  "layer_norm",
  "linear_attention",
  "linear_final_state",
  "linear_init_state",
  "linear_step",
  "norm_attention",
  "norm_final_state",
  "norm_init_state",
  "norm_step",
  "performer_attention",
  "performer_final_state",
  "performer_init_state",
  "performer_step",
  "positive_random_features",
  "rms_norm",
  "simple_rms_norm",
  "softmax_attention",
  "softmax_final_state",
  "softmax_init_state",
  "softmax_step",
  "transnormer_layer_kinds",
  "trig_random_features",
  "variant_settings",
]
