"""A gymnax agent from a config: the environment by name (`make_env`) and a network whose
parameters live as one flat vector (`build_agent`), with the config check they share
(`check_agent_config`). What ppo, dqn and pg build before their first update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from research import models
from research.envs.rollout import num_actions, obs_shape
from research.runtime.config import require

GRIDWORLD = "GridWorld"


def make_env(name: str, *, max_steps_in_episode: int = 0):
  """`(env, env_params)` for a gymnax id (discrete actions) or `"GridWorld"` (research.rl).

  Args:
    name: a registered gymnax environment id, or "GridWorld" (Zhao's grid world, random start,
      one-hot observations).
    max_steps_in_episode: override of the time limit (0 keeps the environment's).

  Raises:
    ConfigError: for an unknown name or a continuous action space.
  """
  import gymnax
  from gymnax.environments import spaces

  known = sorted(gymnax.registered_envs) + [GRIDWORLD]
  require(name in known, f"config.env_name: unknown environment '{name}'; known: "
          + ", ".join(known))
  if name == GRIDWORLD:
    from research.envs.gridworld import GridWorld

    env = GridWorld()
    params = env.default_params.replace(random_start=True)
  else:
    env, params = gymnax.make(name)
  require(isinstance(env.action_space(params), spaces.Discrete),
          f"config.env_name: '{name}' has a continuous action space; these agents need "
          "discrete actions")
  if max_steps_in_episode:
    params = params.replace(max_steps_in_episode=int(max_steps_in_episode))
  return env, params


class Agent(NamedTuple):
  """The static pieces of a gymnax agent: the environment and a network with flat parameters."""

  env: Any
  env_params: Any
  net: Any             # a flax module taking observations `[..., *obs_shape]`
  unravel: Callable    # flat parameter vector -> flax variables
  example_obs: jax.Array

  def apply(self, theta, obs, **kwargs):
    """The network at the flat parameters `theta` (`net.apply` keywords pass through)."""
    return self.net.apply(self.unravel(theta), obs, **kwargs)


def build_agent(config, network, **network_fields) -> Agent:
  """The environment of `config.env_name` and a `network(num_actions=..., hidden_sizes=...,
  activation=..., obs_ndim=..., **network_fields)` whose parameters live as one flat vector (the
  optimiser, the gradient-norm clip and the update are then a handful of kernels instead of a
  few per parameter: faster to compile and to run)."""
  env, env_params = make_env(config.env_name,
                             max_steps_in_episode=int(config.get("max_steps_in_episode", 0)))
  shape = obs_shape(env, env_params)
  net = network(num_actions=num_actions(env, env_params),
                hidden_sizes=tuple(config.hidden_sizes), activation=config.activation,
                obs_ndim=len(shape), **network_fields)
  example_obs = jnp.zeros(shape, jnp.float32)
  unravel = models.flat_params_unravel(lambda k: models.init_params(net, k, example_obs))
  return Agent(env, env_params, net, unravel, example_obs)


def check_agent_config(config) -> None:
  """Raises ConfigError for a bad time-limit override or network field of a gymnax agent.

  Reads the config only (the environment name is checked by `make_env`, which needs gymnax).
  """
  require(int(config.get("max_steps_in_episode", 0)) >= 0,
          f"config.max_steps_in_episode must be ≥ 0 (0: keep the environment's limit), got "
          f"{config.get('max_steps_in_episode')}")
  hidden = tuple(config.hidden_sizes)
  require(all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in hidden),
          f"config.hidden_sizes must be positive integers, got {hidden}")
  require(config.activation in models.ACTIVATIONS, "config.activation must be one of "
          f"{sorted(models.ACTIVATIONS)}, got '{config.activation}'")
  if "torso" in config:
    require(config.torso in models.TORSOS, f"config.torso must be one of {models.TORSOS}, "
            f"got '{config.torso}'")
