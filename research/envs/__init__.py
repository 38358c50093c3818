"""research.envs: environments and how training steps drive them.

- `rollout`: auto-reset stepping of gymnax environments (terminations and time-limit truncations
  kept apart), whole rollouts, greedy evaluation; every key from the caller.
- `agent`: a gymnax agent from a config: the environment by name and a flat-parameter network.
- `returns`: published returns, return tables and learning curves of gymnax agents.
- `gridworld`: Zhao's grid world as a gymnax environment (`GridWorld`; importing it imports
  gymnax). `research.rl.GridWorld` is the same class.
"""

from research.envs.agent import GRIDWORLD, Agent, build_agent, check_agent_config, make_env
from research.envs.returns import (
  PUBLISHED_RETURN,
  learning_curve_plot,
  published_cell,
  return_report,
)
from research.envs.rollout import (
  EnvCarry,
  StepResult,
  Trajectory,
  auto_reset_step,
  check_unwrapped,
  env_init,
  env_step,
  greedy_evaluation,
  max_episode_steps,
  num_actions,
  obs_shape,
  reset_batch,
  rollout,
)

__all__ = [
  "GRIDWORLD", "PUBLISHED_RETURN", "Agent", "build_agent", "check_agent_config",
  "learning_curve_plot", "make_env", "published_cell", "return_report",
  "EnvCarry", "StepResult", "Trajectory", "auto_reset_step", "check_unwrapped", "env_init",
  "env_step", "greedy_evaluation", "max_episode_steps", "num_actions", "obs_shape",
  "reset_batch", "rollout",
]
