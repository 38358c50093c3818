"""research.envs: environments and how training steps drive them.

- `rollout`: auto-reset stepping of gymnax environments (terminations and time-limit truncations
  kept apart), whole rollouts, greedy evaluation; every key from the caller.
- `gridworld`: Zhao's grid world as a gymnax environment (`GridWorld`; importing it imports
  gymnax). `research.rl.GridWorld` is the same class.
"""

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
  "EnvCarry", "StepResult", "Trajectory", "auto_reset_step", "check_unwrapped", "env_init",
  "env_step", "greedy_evaluation", "max_episode_steps", "num_actions", "obs_shape",
  "reset_batch", "rollout",
]
