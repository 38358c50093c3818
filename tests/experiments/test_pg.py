"""REINFORCE (with and without a baseline) and A2C: learning on CartPole, bad configs."""

import numpy as np
import pytest

from configs import pg as pg_config
from experiments import pg
from research.runtime import ConfigError
from tests.experiments.test_ppo import run_members


def test_policy_gradient_methods_improve_on_cartpole():
  c = pg_config.get_config()
  c.reinforce_updates = 60
  c.reinforce_envs = 8
  c.a2c_timesteps = 16 * 5 * 300
  c.num_chunks = 3
  c.eval_episodes = 2
  exp = pg.make(c)
  state, history = run_members(exp, 2)
  for name in pg.ALGORITHMS:
    first, last = (float(history[i][f"{name}/return"].mean()) for i in (0, -1))
    assert last > 1.5 * first and last > 40, (name, first, last)
  assert np.all(state["agents"]["a2c"]["updates"] == 300)


@pytest.mark.parametrize("overrides, message", [
    ({"algorithms": "reinforce,ppo"}, "config.algorithms"),
    ({"reinforce_updates": 5}, "multiple of config.num_chunks"),
    ({"env_name": "Nope-v0"}, "unknown environment"),
])
def test_bad_configs_raise_one_clear_line(overrides, message):
  c = pg_config.get_config("smoke")
  for k, v in overrides.items():
    c[k] = v
  with pytest.raises(ConfigError) as e:
    pg.make(c)
  assert message in str(e.value) and "\n" not in str(e.value)
