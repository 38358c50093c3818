"""research.models: small flax.linen networks (a flat list of re-exports)."""

from research.models.cnn import PatchConv, SmallCNN, lecun_normal_flat
from research.models.decoding import (
  Cache,
  Generation,
  decode_step,
  generate,
  init_cache,
  prefill,
  sequence_logprobs,
)
from research.models.rl_networks import (
  ACTIVATIONS,
  MLP,
  TORSOS,
  ActorCritic,
  MinAtarTorso,
  Orthogonal,
  QNetwork,
  flat_params_unravel,
  init_params,
  orthogonal,
  orthonormal_columns,
)
from research.models.transformer import TransformerLM, init_lm, param_count

__all__ = [
  "ACTIVATIONS", "MLP", "TORSOS", "ActorCritic", "MinAtarTorso", "Orthogonal", "PatchConv",
  "QNetwork", "SmallCNN", "flat_params_unravel", "init_params", "lecun_normal_flat",
  "orthogonal", "orthonormal_columns",
  # the transformer language model and its incremental decoding
  "Cache", "Generation", "TransformerLM", "decode_step", "generate", "init_cache", "init_lm",
  "param_count", "prefill", "sequence_logprobs",
]
