"""The gymnax grid world: reset/step under jit and vmap, and agreement with the TabularMDP."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import rl
from research.envs.gridworld import EnvParams, EnvState, GridWorld

CH7 = EnvParams(r_boundary=-10.0, r_forbidden=-10.0, r_target=0.0, r_other=-1.0)


def test_exported_names():
  assert rl.GridWorld is GridWorld
  assert rl.GridWorldState is EnvState and rl.GridWorldParams is EnvParams


def test_reset_and_spaces():
  env = GridWorld()
  params = env.default_params
  obs, state = jax.jit(env.reset)(jax.random.key(0), params)
  assert obs.shape == (25,) and obs.dtype == jnp.float32
  assert int(obs.argmax()) == rl.START_STATE and float(obs.sum()) == 1.0
  assert int(state.position) == 0 and int(state.time) == 0
  assert env.num_actions == 5 and env.action_space(params).n == 5
  assert bool(env.observation_space(params).contains(obs))
  assert env.name == "GridWorld-Zhao"
  assert set(env.state_space(params).spaces) == {"position", "time"}


@pytest.mark.parametrize("params", [EnvParams(), CH7], ids=["default", "chapter_7"])
def test_step_matches_tabular_mdp(params):
  env = GridWorld()
  mdp = env.tabular_mdp(params)
  states = jnp.repeat(jnp.arange(25), 5)
  actions = jnp.tile(jnp.arange(5), 25)

  def step(s, a):
    state = EnvState(position=s, time=0)
    return env.step_env(jax.random.key(0), state, a, params)

  obs, next_state, reward, terminated, info = jax.jit(jax.vmap(step))(states, actions)
  expected_next = np.asarray(mdp.transitions).argmax(-1).reshape(-1)
  np.testing.assert_array_equal(next_state.position, expected_next)
  np.testing.assert_array_equal(next_state.time, 1)
  np.testing.assert_array_equal(reward, np.asarray(mdp.rewards).reshape(-1))
  np.testing.assert_array_equal(obs.argmax(-1), expected_next)
  np.testing.assert_array_equal(terminated, expected_next == rl.TARGET_STATE)
  np.testing.assert_array_equal(info["discount"], 1.0 - (expected_next == rl.TARGET_STATE))
  # The default rewards are those of `gridworld()` with its defaults.
  if params == EnvParams():
    np.testing.assert_array_equal(mdp.rewards, rl.gridworld().rewards)


def test_episode_terminates_at_the_target_and_auto_resets():
  env = GridWorld()
  # From the start: right ×3, down ×2 (to (3,4)), right, down ×2, left ×2, up: the 11-step path.
  actions = jnp.array([1, 1, 1, 2, 2, 1, 2, 2, 3, 3, 0])

  def rollout(key):
    obs, state = env.reset(key, CH7)

    def body(carry, a):
      state, key = carry
      key, k = jax.random.split(key)
      obs, state, reward, terminated, truncated, info = env.step(k, state, a, CH7)
      return (state, key), (state.position, reward, terminated, truncated)

    return jax.lax.scan(body, (state, key), actions)[1]

  positions, rewards, terminated, truncated = jax.jit(rollout)(jax.random.key(1))
  np.testing.assert_array_equal(rewards, [-1.0] * 10 + [0.0])
  np.testing.assert_array_equal(terminated, [False] * 10 + [True])
  assert not bool(truncated.any())
  assert int(positions[-1]) == rl.START_STATE  # auto-reset after the terminal step
  path = [rl.cell_to_state(*c) for c in [(1, 2), (1, 3), (1, 4), (2, 4), (3, 4), (3, 5), (4, 5)]]
  np.testing.assert_array_equal(positions[:7], path)


def test_time_limit_truncates():
  env = GridWorld()
  params = EnvParams(max_steps_in_episode=3)
  obs, state = env.reset(jax.random.key(0), params)
  flags = []
  for t in range(4):
    obs, state, reward, terminated, truncated, info = env.step(jax.random.key(t), state, 4, params)
    flags.append((bool(terminated), bool(truncated), int(state.time)))
  # stay, stay, stay -> truncated at the third step (not terminated), then a fresh episode.
  assert flags == [(False, False, 1), (False, False, 2), (False, True, 0), (False, False, 1)]


def test_vmap_reset_and_step_with_random_starts():
  env = GridWorld(observation="coordinates")
  params = EnvParams(random_start=True)
  keys = jax.random.split(jax.random.key(0), 512)
  obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
  positions = np.asarray(state.position)
  assert obs.shape == (512, 2)
  assert not np.any(positions == rl.TARGET_STATE)
  assert len(np.unique(positions)) == 24
  rows, cols = positions // 5 + 1, positions % 5 + 1
  np.testing.assert_array_equal(obs, np.stack([rows, cols], -1).astype(np.float32))
  actions = np.arange(512) % 5
  # Step from the random starts (auto-resetting to the fixed start after a terminal step).
  step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
  _, next_state, reward, terminated, _, _ = step(keys, state, actions, EnvParams())
  mdp = env.tabular_mdp()
  np.testing.assert_array_equal(reward, np.asarray(mdp.rewards)[positions, actions])
  expected_next = np.asarray(mdp.transitions).argmax(-1)[positions, actions]
  np.testing.assert_array_equal(terminated, expected_next == rl.TARGET_STATE)
  np.testing.assert_array_equal(
    next_state.position, np.where(expected_next == rl.TARGET_STATE, rl.START_STATE, expected_next)
  )


def test_invalid_observation():
  with pytest.raises(ValueError, match="observation must be one of"):
    GridWorld(observation="pixels")
