"""PPO on gymnax: auto-reset and truncation handling, learning, chunking invariance, bad configs.

`run_members` (also used by test_dqn and test_pg) drives an experiment like the runtime does:
`jit(vmap(init))`, then `jit(vmap(step))` once per chunk.
"""

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import ppo as ppo_config
from experiments import ppo
from research.runtime import ConfigError


def run_members(experiment, num_seeds, *, chunks=None, seed=0):
  """`(final_state, [metrics per chunk])` of `num_seeds` members at the default hparams."""
  index = jnp.arange(num_seeds, dtype=jnp.uint32)
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(index)
  hparams = {k: jnp.full((num_seeds,), v, jnp.float32) for k, v in experiment.hparams.items()}
  state = jax.jit(jax.vmap(experiment.init))(keys, hparams)
  step = jax.jit(jax.vmap(experiment.step))
  history = []
  for _ in range(experiment.num_chunks if chunks is None else chunks):
    state, metrics = step(state)
    history.append(jax.tree.map(np.asarray, metrics))
  return state, history


def small_config(**overrides):
  c = ppo_config.get_config("smoke")
  for k, v in overrides.items():
    c[k] = v
  return c


def test_short_cartpole_run_improves_clearly():
  c = ppo_config.get_config("CartPole-v1")
  c.total_timesteps = 4 * 128 * 48
  c.num_chunks = 4
  c.eval_episodes = 4
  exp = ppo.make(c)
  _, history = run_members(exp, 2)
  returns = [float(m["return"].mean()) for m in history]
  assert returns[-1] > 2.5 * returns[0] and returns[-1] > 60, returns
  assert all(np.isfinite(m["approx_kl"]).all() for m in history)


def test_chunking_does_not_change_the_result():
  one = ppo.make(small_config(num_chunks=1, total_timesteps=2 * 16 * 4))
  two = ppo.make(small_config(num_chunks=2, total_timesteps=2 * 16 * 4))
  s1, _ = run_members(one, 2)
  s2, _ = run_members(two, 2)
  np.testing.assert_allclose(s1["params"], s2["params"], rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(s1["rng"], s2["rng"])
  np.testing.assert_array_equal(s1["update"], [4, 4])


def test_greedy_evaluation_and_report_fields():
  exp = ppo.make(small_config())
  state, history = run_members(exp, 2)
  final = jax.jit(jax.vmap(exp.finalize))(state)
  assert final["eval_return"].shape == (2, 2)
  assert np.all(final["eval_return"] >= 1) and np.all(final["eval_return"] <= 50)
  assert {"return", "episodes", "policy_loss", "value_loss", "entropy", "approx_kl",
          "clip_fraction", "lr"} <= set(history[0])


@pytest.mark.parametrize("overrides, message", [
    ({"env_name": "Nope-v0"}, "unknown environment 'Nope-v0'"),
    ({"num_minibatches": 3}, "must divide the batch"),
    ({"num_chunks": 3}, "multiple of config.num_chunks"),
    ({"env_name": "Pendulum-v1"}, "continuous action space"),
])
def test_bad_configs_raise_one_clear_line(overrides, message):
  with pytest.raises(ConfigError) as e:
    ppo.make(small_config(**overrides))
  assert message in str(e.value) and "\n" not in str(e.value)


def test_launcher_prints_bad_config_as_one_line(launch, tmp_path):
  result = launch("--config=configs/ppo.py:smoke", "--config.env_name=Nope-v0",
                  f"--workdir={tmp_path}")
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert lines[-1].startswith("error: config.env_name: unknown environment 'Nope-v0'")
  assert "Traceback" not in result.stderr
  assert "CartPole-v1" in gymnax.registered_envs
