"""DQN: reaches the known optimal Q-values of a tiny deterministic MDP; replay stores pre-reset
observations and terminations only (truncations bootstrap); bad configs fail clearly."""

import jax.numpy as jnp
import numpy as np
import pytest

from configs import dqn as dqn_config
from experiments import dqn
from research.runtime import ConfigError
from tests.experiments.test_ppo import run_members


def test_dqn_reaches_the_optimal_q_values_of_the_grid_world():
  c = dqn_config.get_config("GridWorld")
  c.total_timesteps = 24_000
  c.num_chunks = 3
  exp = dqn.make(c)
  state, history = run_members(exp, 2)
  agent = dqn.build(c)
  q_star = dqn.optimal_q_gridworld(c)
  non_terminal = np.arange(25) != 17
  for member in range(2):
    q = np.asarray(agent.apply(state["params"][member], jnp.eye(25)))
    np.testing.assert_allclose(q[non_terminal], q_star[non_terminal], atol=0.02)
    greedy = q_star[np.arange(25), q.argmax(axis=1)]
    np.testing.assert_allclose(greedy[non_terminal], q_star.max(axis=1)[non_terminal], atol=1e-6)
  assert history[-1]["loss"].max() < 1e-3 and history[-1]["updates"].min() > 0


def test_replay_holds_pre_reset_next_observations_and_only_terminations():
  c = dqn_config.get_config("smoke")
  c.max_steps_in_episode = 5      # a random CartPole policy's episodes are all cut at 5 steps
  c.epsilon_anneal_time = 10**6   # ε ≈ 1: random actions
  c.buffer_size = c.total_timesteps
  exp = dqn.make(c)
  state, history = run_members(exp, 1)
  buf = state["buffer"]
  n = c.num_envs
  obs = np.asarray(buf.storage.obs[0]).reshape(-1, n, 4)          # [iterations, envs, 4]
  next_obs = np.asarray(buf.storage.next_obs[0]).reshape(-1, n, 4)
  continues = np.all(next_obs[:-1] == obs[1:], axis=-1)            # same episode goes on
  # Every 5th step of each environment is an episode end: the stored next observation is the
  # pre-reset one, not the reset observation the environment continues from.
  expected = np.broadcast_to((np.arange(1, len(obs))[:, None] % 5) != 0, continues.shape)
  np.testing.assert_array_equal(continues, expected)
  assert not np.asarray(buf.storage.terminated).any()             # truncations are not terminal
  assert sum(float(m["episodes"].sum()) for m in history) == c.total_timesteps / 5


@pytest.mark.parametrize("overrides, message", [
    ({"env_name": "Nope-v0"}, "unknown environment"),
    ({"buffer_size": 2}, "must be ≥ num_envs"),
    ({"loss": "l1"}, "config.loss"),
    ({"num_chunks": 3}, "multiple of config.num_chunks"),
])
def test_bad_configs_raise_one_clear_line(overrides, message):
  c = dqn_config.get_config("smoke")
  for k, v in overrides.items():
    c[k] = v
  with pytest.raises(ConfigError) as e:
    dqn.make(c)
  assert message in str(e.value) and "\n" not in str(e.value)
