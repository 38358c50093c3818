"""What the gymnax experiments (ppo, dqn, pg) share beyond the library: the environment and the
flat-parameter network from the config (`make_env`, `build_agent`, `check_agent_config`), the
published returns, and their results tables and plots. Stepping environments is
`research.envs`; random numbers are `research.rng`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from research import envs, models, rl
from research.runtime import Plot, Report, Series, Table, ci_band, format_pm, require, summarize

# Published returns (gymnax README, PPO checkpoints of gymnax-blines; PureJaxRL for CartPole).
PUBLISHED_RETURN = {"CartPole-v1": 500.0, "Acrobot-v1": -80.0, "Breakout-MinAtar": 28.0}
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
    env = rl.GridWorld()
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
  shape = envs.obs_shape(env, env_params)
  net = network(num_actions=envs.num_actions(env, env_params),
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


# --- reporting ---------------------------------------------------------------------------------


COMPILE_NOTE = ("Speed: the Timings table (compile s counts init + step; a warm persistent "
                "compilation cache makes it small: pass --cache_dir= to measure a cold compile).")


def ci_cell(values, digits=1) -> str:
  return format_pm(summarize(np.asarray(values, np.float64)), digits)


def learning_curve_plot(name, title, history_return, members, env_steps_per_chunk) -> Plot:
  """Mean return over seeds per chunk with a 95% Student-t CI band, one line per sweep point."""
  chunks = history_return.shape[0]
  x = np.arange(1, chunks + 1) * env_steps_per_chunk
  series = []
  for p in range(len(members.points)):
    sel = members.point_index == p
    values = history_return[:, sel]
    if values.ndim > 2:
      values = values.reshape(chunks, values.shape[1], -1).mean(axis=2)
    label = (members.point_label(p) if len(members.points) > 1
             else "mean, 95% Student-t CI over seeds")
    series.append(Series(label, x, values.mean(axis=1), *ci_band(values.T)))
  return Plot(name, title, "environment steps per seed", "episode return", series)


def return_report(algo, config, final, history, info, env_steps_per_chunk) -> Report:
  """`algo`'s results: return vs published, per-seed finals, learning curves (the speed is in
  the runtime's Timings table)."""
  members = info.members
  multi = len(members.points) > 1
  published = PUBLISHED_RETURN.get(config.env_name)
  steps_per_seed = env_steps_per_chunk * len(history["return"])
  tail = max(1, len(history["return"]) // 4)
  rows, seed_rows = [], []
  for p in range(len(members.points)):
    sel = members.point_index == p
    last = history["return"][-1, sel]
    tail_mean = history["return"][-tail:, sel].mean(axis=0)
    greedy = np.asarray(final["eval_return"])[sel].mean(axis=1)
    rows.append(([members.point_label(p)] if multi else []) + [
        config.env_name, int(sel.sum()), f"{steps_per_seed:,}", ci_cell(last),
        ci_cell(tail_mean), ci_cell(greedy),
        "—" if published is None else f"{published:g}"])
    for i, m in enumerate(np.flatnonzero(sel)):
      seed_rows.append(([members.point_label(p)] if multi else []) + [
          int(members.seed_index[m]), f"{last[i]:.1f}", f"{greedy[i]:.1f}"])
  point = ["sweep point"] if multi else []
  caption = (f"{algo} on gymnax {config.env_name}: training return = mean return of the episodes "
             f"finished in the last chunk ({env_steps_per_chunk:,} steps per seed), and over the "
             f"last {tail} chunk(s); greedy = {config.eval_episodes} greedy-policy episodes per "
             "seed after training; mean ± 95% Student-t CI over seeds. Published: gymnax README / "
             "gymnax-blines PPO checkpoints (CartPole-v1 500, Acrobot-v1 ≈ −80, Breakout-MinAtar "
             "≈ 28).")
  tables = [
      Table(f"{algo} on {config.env_name}",
            point + ["environment", "seeds", "env steps per seed", "training return (last chunk)",
                     f"training return (last {tail} chunks)", "greedy return", "published"],
            rows, caption),
      Table(f"{algo} on {config.env_name}: final return per seed",
            point + ["seed", "training return (last chunk)", "greedy return"], seed_rows),
  ]
  plots = [learning_curve_plot(f"{config.experiment}_return",
                                 f"{algo} on {config.env_name}", history["return"], members,
                                 env_steps_per_chunk)]
  if "eval_return" in history:
    plots.append(learning_curve_plot(f"{config.experiment}_greedy_return",
                                       f"{algo} on {config.env_name}: greedy return",
                                       history["eval_return"], members, env_steps_per_chunk))
  return Report(tables, plots, COMPILE_NOTE)
