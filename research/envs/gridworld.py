"""The grid world of Zhao's book as a gymnax environment (episodic: the target is terminal).

Dynamics and rewards are those of `research.rl.gridworld` (the same tables): 5×5 cells, actions
up, right, down, left, stay; a bump into the boundary keeps the agent in place. An episode starts
in the top-left cell (or, with `random_start`, uniformly in a non-target cell), terminates when
the agent enters the target (the book's chapter-7 setting) and is truncated after
`max_steps_in_episode` steps. The gymnax 1.0 base class turns `step_env`'s
`(obs, state, reward, terminated, info)` into `step`'s
`(obs, state, reward, terminated, truncated, info)` and auto-resets; bootstrap with
`1 − terminated` (a truncation is not a terminal state).

See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 2 and 7
(https://github.com/MathFoundationRL/Book-Mathematical-Foundation-of-Reinforcement-Learning) and
gymnax (https://github.com/RobertTLange/gymnax).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from research.rl.grid_mdp import (
  GRID_NEXT_STATE,
  GRID_REWARD_KIND,
  GRID_SHAPE,
  NUM_GRID_ACTIONS,
  NUM_GRID_STATES,
  START_STATE,
  TARGET_STATE,
  gridworld,
)
from research.rl.mdp import TabularMDP

OBSERVATIONS = ("one_hot", "coordinates")


@struct.dataclass
class EnvState(environment.EnvState):
  """The agent's cell (state index `(row − 1) · 5 + (col − 1)`) and the elapsed steps."""

  position: jax.Array
  time: int


@struct.dataclass
class EnvParams(environment.EnvParams):
  """Rewards, start and time limit. Defaults are the book's chapter-3 rewards.

  The chapter-7 Sarsa/Q-learning setting is `EnvParams(r_boundary=-10., r_forbidden=-10.,
  r_target=0., r_other=-1.)`.
  """

  r_boundary: float = -1.0
  r_forbidden: float = -1.0
  r_target: float = 1.0
  r_other: float = 0.0
  start_state: int = START_STATE
  # Static (part of the tree structure), so a fixed start draws no random numbers.
  random_start: bool = struct.field(pytree_node=False, default=False)
  max_steps_in_episode: int = 100


class GridWorld(environment.Environment[EnvState, EnvParams]):
  """Zhao's 5×5 grid world, episodic with the target terminal, discrete actions (5).

  Args:
    observation: `"one_hot"` (float32 `[25]`, the default) or `"coordinates"` (float32
      `[2]`, the 1-indexed (row, col) as in the book).
  """

  def __init__(self, observation: str = "one_hot"):
    super().__init__()
    if observation not in OBSERVATIONS:
      raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
    self.observation = observation
    self._next_state = jnp.asarray(GRID_NEXT_STATE)
    self._reward_kind = jnp.asarray(GRID_REWARD_KIND)

  @property
  def default_params(self) -> EnvParams:
    return EnvParams()

  @property
  def name(self) -> str:
    return "GridWorld-Zhao"

  @property
  def num_actions(self) -> int:
    return NUM_GRID_ACTIONS

  def step_env(
    self,
    key: jax.Array,
    state: EnvState,
    action: int | float | jax.Array,
    params: EnvParams,
  ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[Any, Any]]:
    """One deterministic move; terminated when the target is entered."""
    action = jnp.asarray(action, jnp.int32)
    table = jnp.stack(
      [
        jnp.asarray(r, jnp.float32)
        for r in (params.r_other, params.r_boundary, params.r_forbidden, params.r_target)
      ]
    )
    reward = table[self._reward_kind[state.position, action]]
    next_state = EnvState(position=self._next_state[state.position, action], time=state.time + 1)
    terminated = self.is_terminated(next_state, params)
    observation = self.observe(key, next_state, action, params)
    info = {"discount": 1.0 - terminated.astype(jnp.float32)}
    return observation, next_state, reward, terminated, info

  def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
    """Starts in `params.start_state`, or uniformly in a non-target cell with `random_start`."""
    if params.random_start:
      # Uniform over the 24 non-target cells: draw in [0, 24) and skip over the target index.
      draw = jax.random.randint(key, (), 0, NUM_GRID_STATES - 1)
      position = draw + (draw >= TARGET_STATE)
    else:
      position = params.start_state
    state = EnvState(position=jnp.asarray(position, jnp.int32), time=0)
    return self.observe(key, state, None, params), state

  def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
    """The target is the only terminal cell."""
    del params
    return state.position == TARGET_STATE

  def observe(self, key, state: EnvState, action, params: EnvParams) -> jax.Array:
    """One-hot `[25]` or 1-indexed (row, col) `[2]`, float32."""
    del key, action, params
    if self.observation == "one_hot":
      return jax.nn.one_hot(state.position, NUM_GRID_STATES, dtype=jnp.float32)
    row, col = jnp.divmod(state.position, GRID_SHAPE[1])
    return jnp.stack([row + 1, col + 1]).astype(jnp.float32)

  def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
    del params
    return spaces.Discrete(NUM_GRID_ACTIONS)

  def observation_space(self, params: EnvParams) -> spaces.Box:
    del params
    if self.observation == "one_hot":
      return spaces.Box(0.0, 1.0, (NUM_GRID_STATES,), jnp.float32)
    return spaces.Box(1.0, float(max(GRID_SHAPE)), (2,), jnp.float32)

  def state_space(self, params: EnvParams) -> spaces.Dict:
    return spaces.Dict(
      {
        "position": spaces.Discrete(NUM_GRID_STATES),
        "time": spaces.Discrete(params.max_steps_in_episode + 1),
      }
    )

  def tabular_mdp(self, params: EnvParams | None = None, *, discount=0.9) -> TabularMDP:
    """The `TabularMDP` with this environment's transitions and rewards (continuing form)."""
    params = self.default_params if params is None else params
    return gridworld(
      r_boundary=params.r_boundary,
      r_forbidden=params.r_forbidden,
      r_target=params.r_target,
      r_other=params.r_other,
      discount=discount,
    )
