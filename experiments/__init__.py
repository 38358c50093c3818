"""Experiments: one module per reproduced table, each with `make(config) -> Experiment`.

`REGISTRY` maps `config.experiment` to its module; the launcher resolves configs through it.
"""

import importlib

from research.runtime.errors import ConfigError

REGISTRY = {
    "bandit": "experiments.bandit",
    "gridworld_dp": "experiments.gridworld_dp",
    "gridworld_td": "experiments.gridworld_td",
    "voc_map": "experiments.voc_map",
    "random_erasing": "experiments.random_erasing",
    "ppo": "experiments.ppo",
    "dqn": "experiments.dqn",
    "pg": "experiments.pg",
    "performer_kernel": "experiments.performer_kernel",
    "attention_scaling": "experiments.attention_scaling",
    "mqar": "experiments.mqar",
    "llm_rl": "experiments.llm_rl",
}


def load_experiment(name: str):
  """The module of experiment `name` (raises ConfigError naming the known ones)."""
  if name not in REGISTRY:
    raise ConfigError(f"config.experiment: unknown experiment '{name}'; known: "
                      + ", ".join(sorted(REGISTRY)))
  return importlib.import_module(REGISTRY[name])
