"""Config helpers shared by `configs/*.py`: the common fields and variant selection."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ml_collections

from research.runtime.errors import ConfigError


def base_config(experiment: str) -> ml_collections.ConfigDict:
  """The fields every experiment has; a config adds its own and may change these."""
  c = ml_collections.ConfigDict()
  c.experiment = experiment        # module experiments.<experiment> that builds the run
  c.seed = 0                       # member keys are fold_in(key(seed), seed_index)
  c.num_seeds = 8                  # seeds per sweep point (the vmapped member axis)
  c.sweep = ""                     # e.g. "alpha=0.05,0.1;epsilon=0.1,0.2" (grid × seeds)
  c.checkpoint_every = 1           # save every N chunks (0: only at the end)
  c.keep_checkpoints = 2           # keep the last K checkpoints
  c.nan_guard = True               # stop on a NaN/inf metric, naming metric, member and chunk
  c.tensorboard = True             # also write TensorBoard events
  return c


def select_variant(arg: str | None, variants: Mapping[str, Callable[[ml_collections.ConfigDict],
                                                                     None]],
                   config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Applies the variant named by `arg` ('' or None: the defaults) to `config` and returns it.

  Raises:
    ConfigError: naming the unknown variant and the allowed ones.
  """
  arg = (arg or "").strip()
  for part in filter(None, arg.split(",")):
    if part not in variants:
      allowed = ", ".join(sorted(variants)) or "none"
      raise ConfigError(f"unknown config variant '{part}' for {config.experiment}; "
                        f"allowed: {allowed}")
    variants[part](config)
  return config


def require(condition: bool, message: str) -> None:
  """Raises ConfigError(message) unless `condition`."""
  if not condition:
    raise ConfigError(message)
