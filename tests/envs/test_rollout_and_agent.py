"""research.envs: auto-reset stepping equals gymnax's own step, rollouts keep the pre-reset
observation for truncations, wrapped environments are refused; `make_env`/`build_agent` from a
config.
"""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from configs import ppo as ppo_config
from research import envs, models, rl
from research import rng as prng
from research.runtime import ConfigError


def test_auto_reset_step_equals_gymnax_step_on_a_time_limited_env():
  env, params = envs.make_env("CartPole-v1", max_steps_in_episode=5)
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
  env, params = envs.make_env("CartPole-v1", max_steps_in_episode=5)
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


@pytest.mark.parametrize("wrapper", ["LogWrapper", "FlattenObservationWrapper"])
def test_a_wrapped_environment_is_refused_not_silently_unwrapped(wrapper):
  """The harness calls step_env/reset_env, which a gymnax wrapper forwards past itself."""
  import gymnax.wrappers.purerl as purerl

  env, params = envs.make_env("CartPole-v1")
  wrapped = getattr(purerl, wrapper)(env)
  keys = prng.env_keys(jnp.arange(4, dtype=jnp.uint32).reshape(2, 2))
  with pytest.raises(ValueError, match=f"env: {wrapper} is a gymnax wrapper"):
    envs.env_init(wrapped, params, keys)
  with pytest.raises(ValueError, match="gymnax wrapper"):
    envs.auto_reset_step(wrapped, params, keys[0], None, 0, None, None)


def test_make_env_refuses_unknown_names_and_continuous_actions_in_one_line():
  with pytest.raises(ConfigError, match="config.env_name: unknown environment 'Nope-v0'"):
    envs.make_env("Nope-v0")
  with pytest.raises(ConfigError, match="'Pendulum-v1' has a continuous action space"):
    envs.make_env("Pendulum-v1")
  env, params = envs.make_env("CartPole-v1", max_steps_in_episode=7)
  assert params.max_steps_in_episode == 7
  grid, grid_params = envs.make_env(envs.GRIDWORLD)
  assert isinstance(grid, rl.GridWorld) and grid_params.random_start


def test_build_agent_flat_parameters_give_the_network_s_own_output():
  config = ppo_config.get_config("smoke")
  agent = envs.build_agent(config, models.ActorCritic)
  key = jax.random.key(3)
  variables = models.init_params(agent.net, key, agent.example_obs)
  theta, _ = jax.flatten_util.ravel_pytree(variables)
  obs = jnp.linspace(-1.0, 1.0, 8).reshape(2, 4)
  ours = agent.apply(theta, obs)
  ref = agent.net.apply(variables, obs)
  jax.tree.map(np.testing.assert_array_equal, ours, ref)
  assert agent.example_obs.shape == (4,)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("max_steps_in_episode", -1, "config.max_steps_in_episode must be ≥ 0"),
    ("hidden_sizes", (8, 0), "config.hidden_sizes must be positive integers"),
    ("activation", "swishy", "config.activation must be one of"),
])
def test_check_agent_config_names_the_field(field, value, message):
  config = ppo_config.get_config("smoke")
  config[field] = value
  with pytest.raises(ConfigError, match=message):
    envs.check_agent_config(config)
