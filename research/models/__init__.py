"""research.models: small flax.linen networks (a flat list of re-exports)."""

from research.models.cnn import PatchConv, SmallCNN, lecun_normal_flat
from research.models.rl_networks import (
  ACTIVATIONS,
  MLP,
  TORSOS,
  ActorCritic,
  MinAtarTorso,
  Orthogonal,
  QNetwork,
  init_params,
  orthogonal,
  orthonormal_columns,
)

__all__ = [
  "ACTIVATIONS", "MLP", "TORSOS", "ActorCritic", "MinAtarTorso", "Orthogonal", "PatchConv",
  "QNetwork", "SmallCNN", "init_params", "lecun_normal_flat", "orthogonal", "orthonormal_columns",
]
