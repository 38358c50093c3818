"""research.rl: tabular MDPs, Bellman operators, dynamic programming, TD learning and returns.

A flat list of the public names. The gymnax environment (`GridWorld`, `GridWorldState`,
`GridWorldParams`) is imported on first use, so importing this package does not import gymnax.
"""

from research.rl.bellman import (
  bellman_expectation,
  bellman_optimality,
  greedy_policy,
  policy_evaluation,
  q_values,
)
from research.rl.dp import (
  DPResult,
  policy_iteration,
  policy_iteration_trace,
  truncated_policy_iteration,
  truncated_policy_iteration_trace,
  value_iteration,
  value_iteration_trace,
)
from research.rl.grid_mdp import (
  ACTION_ARROWS,
  ACTION_NAMES,
  FORBIDDEN_CELLS,
  GRID_SHAPE,
  START_CELL,
  START_STATE,
  TARGET_CELL,
  TARGET_STATE,
  cell_to_state,
  gridworld,
  gridworld_terminal_mask,
  policy_to_arrows,
  render_policy,
  render_values,
  state_to_cell,
  values_to_grid,
)
from research.rl.mdp import (
  TabularMDP,
  random_mdp,
  validate_discount,
  validate_mdp,
  validate_policy,
  validate_values,
)
from research.rl.pg_losses import (
  bootstrap_truncations,
  categorical_entropy,
  categorical_log_prob,
  clipped_surrogate_pg_loss,
  clipped_value_loss,
  entropy_loss,
  policy_gradient_loss,
  truncation_aware_gae,
  value_loss,
)
from research.rl.replay import (
  ReplayBuffer,
  ReplayState,
  periodic_update,
  polyak_update,
  replay_add,
  replay_can_sample,
  replay_gather,
  replay_indices,
  replay_init,
  replay_sample,
  uniform_replay,
)
from research.rl.returns import (
  discounted_returns,
  gae,
  lambda_returns,
  n_step_bootstrapped_returns,
)
from research.rl.schedules import linear_schedule
from research.rl.tabular import (
  EpisodeStats,
  Trajectory,
  epsilon_greedy,
  epsilon_greedy_probs,
  expected_sarsa_episode,
  greedy_path,
  n_step_sarsa_episode,
  q_learning_episode,
  q_learning_from_trajectory,
  q_learning_offpolicy,
  sample_trajectory,
  sarsa_episode,
  td0_episode,
  td0_from_trajectory,
)
from research.rl.td import expected_sarsa, q_learning, sarsa, td_learning
from research.rng import categorical_from_uniform, epsilon_greedy_from_uniform, uniform_from_bits

_LAZY = {
  "GridWorld": ("research.envs.gridworld", "GridWorld"),
  "GridWorldState": ("research.envs.gridworld", "EnvState"),
  "GridWorldParams": ("research.envs.gridworld", "EnvParams"),
}


def __getattr__(name):
  if name in _LAZY:
    import importlib

    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
  raise AttributeError(f"module 'research.rl' has no attribute {name!r}")


def __dir__():
  return sorted(__all__)


__all__ = [
  # mdp
  "TabularMDP",
  "gridworld",
  "random_mdp",
  "gridworld_terminal_mask",
  "validate_mdp",
  "validate_policy",
  "validate_values",
  "validate_discount",
  "GRID_SHAPE",
  "FORBIDDEN_CELLS",
  "TARGET_CELL",
  "TARGET_STATE",
  "START_CELL",
  "START_STATE",
  "ACTION_NAMES",
  "ACTION_ARROWS",
  "cell_to_state",
  "state_to_cell",
  "values_to_grid",
  "policy_to_arrows",
  "render_values",
  "render_policy",
  # bellman
  "q_values",
  "bellman_expectation",
  "bellman_optimality",
  "greedy_policy",
  "policy_evaluation",
  # dp
  "DPResult",
  "value_iteration",
  "policy_iteration",
  "truncated_policy_iteration",
  "value_iteration_trace",
  "policy_iteration_trace",
  "truncated_policy_iteration_trace",
  # td
  "td_learning",
  "sarsa",
  "expected_sarsa",
  "q_learning",
  # returns
  "discounted_returns",
  "n_step_bootstrapped_returns",
  "lambda_returns",
  "gae",
  # tabular agents
  "EpisodeStats",
  "Trajectory",
  "epsilon_greedy",
  "epsilon_greedy_probs",
  "td0_episode",
  "sarsa_episode",
  "expected_sarsa_episode",
  "n_step_sarsa_episode",
  "q_learning_episode",
  "sample_trajectory",
  "q_learning_from_trajectory",
  "td0_from_trajectory",
  "q_learning_offpolicy",
  "greedy_path",
  # policy-gradient losses
  "policy_gradient_loss",
  "entropy_loss",
  "clipped_surrogate_pg_loss",
  "clipped_value_loss",
  "value_loss",
  "categorical_log_prob",
  "categorical_entropy",
  "bootstrap_truncations",
  "truncation_aware_gae",
  # replay and target networks
  "ReplayState",
  "ReplayBuffer",
  "uniform_replay",
  "replay_init",
  "replay_add",
  "replay_sample",
  "replay_gather",
  "replay_indices",
  "replay_can_sample",
  "polyak_update",
  "periodic_update",
  # schedules, and samplers fed with uniforms (defined in research.rng)
  "linear_schedule",
  "uniform_from_bits",
  "categorical_from_uniform",
  "epsilon_greedy_from_uniform",
  # gymnax environment (lazy)
  "GridWorld",
  "GridWorldState",
  "GridWorldParams",
]
