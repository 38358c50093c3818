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
from experiments import _gymnax as G
from experiments import ppo
from research import envs, rl
from research import rng as prng
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


def test_auto_reset_step_equals_gymnax_step_on_a_time_limited_env():
  env, params = G.make_env("CartPole-v1", max_steps_in_episode=5)
  keys = jax.random.split(jax.random.key(0), 4)
  obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)

  @jax.jit
  def both(key, state, action):
    ref = jax.vmap(env.step, in_axes=(0, 0, 0, None))(key, state, action, params)
    k_step, k_reset = jax.vmap(jax.random.split, out_axes=1)(key)
    reset_obs, reset_state = envs.reset_batch(env, params, k_reset)
    ours = jax.vmap(lambda k, s, a, ro, rs: envs.auto_reset_step(env, params, k, s, a, ro, rs))(
        k_step, state, action, reset_obs, reset_state)
    return ref, ours

  truncations = 0
  for t in range(12):
    keys = jax.random.split(jax.random.key(t + 1), 4)
    action = jnp.full((4,), t % 2, jnp.int32)
    (o, s, r, term, trunc, info), ours = both(keys, state, action)
    np.testing.assert_allclose(ours.obs, o)
    jax.tree.map(np.testing.assert_allclose, ours.state, s)
    np.testing.assert_allclose(ours.reward, r)
    np.testing.assert_array_equal(ours.terminated, term)
    np.testing.assert_array_equal(ours.truncated, trunc)
    np.testing.assert_allclose(ours.final_obs, info["final_observation"])
    truncations += int(trunc.sum())
    state = s
  assert truncations == 8     # every 5 steps, 4 environments, no terminations this early


def test_rollout_keeps_the_pre_reset_observation_and_bootstraps_truncations():
  env, params = G.make_env("CartPole-v1", max_steps_in_episode=5)
  carry = envs.env_init(env, params, prng.env_keys(jnp.arange(4, dtype=jnp.uint32).reshape(2, 2)))
  t_steps = 12
  bits = jax.random.bits(jax.random.key(0), (2, t_steps, 2, 2), jnp.uint32)
  act = lambda obs, u: (u > 0.5).astype(jnp.int32)
  carry, traj = jax.jit(lambda c, u: envs.rollout(env, params, c, act, u, prng.env_keys(bits[0]),
                                               prng.env_keys(bits[1])))(
      carry, jax.random.uniform(jax.random.key(1), (t_steps, 2)))
  trunc, term = np.asarray(traj.truncated), np.asarray(traj.terminated)
  assert trunc[4].all() and trunc[9].all() and trunc.sum() == 4 and not term.any()
  # After a truncation the next observation is a fresh reset, not the final observation.
  assert not np.allclose(traj.final_obs[4], traj.obs[5])
  np.testing.assert_allclose(traj.final_obs[3], traj.obs[4])
  np.testing.assert_allclose(traj.episode_return[4], 5.0)
  # The value of the final observation enters the advantage at the truncation only.
  v = lambda o: o.sum(-1)
  r2, d = jax.vmap(lambda r, te, tr, vf: rl.bootstrap_truncations(r, te, tr, vf, discount=0.9),
                   in_axes=1, out_axes=1)(traj.reward, traj.terminated, traj.truncated,
                                          v(traj.final_obs))
  np.testing.assert_allclose(r2[4], 1.0 + 0.9 * v(traj.final_obs[4]), rtol=1e-6)
  np.testing.assert_allclose(r2[3], 1.0)
  np.testing.assert_array_equal(d[4], 0.0)


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


@pytest.mark.parametrize("wrapper", ["LogWrapper", "FlattenObservationWrapper"])
def test_a_wrapped_environment_is_refused_not_silently_unwrapped(wrapper):
  """The harness calls step_env/reset_env, which a gymnax wrapper forwards past itself."""
  import gymnax.wrappers.purerl as purerl

  env, params = G.make_env("CartPole-v1")
  wrapped = getattr(purerl, wrapper)(env)
  keys = prng.env_keys(jnp.arange(4, dtype=jnp.uint32).reshape(2, 2))
  with pytest.raises(ValueError, match=f"env: {wrapper} is a gymnax wrapper"):
    envs.env_init(wrapped, params, keys)
  with pytest.raises(ValueError, match="gymnax wrapper"):
    envs.auto_reset_step(wrapped, params, keys[0], None, 0, None, None)
