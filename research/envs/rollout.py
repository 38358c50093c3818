"""Stepping gymnax environments inside compiled training steps: auto-reset, rollouts, greedy
evaluation.

Episode ends follow gymnax 1.0: `step_env` reports `terminated`, the time limit
(`env.is_truncated`) reports `truncated`, and on either the environment is reset; the pre-reset
observation is kept as `final_obs` so that a truncation can be bootstrapped from it. The resets of
a whole rollout are computed in one vmapped call before it (`reset_batch`), and every key comes
from the caller (see `research.rng`).

These functions call the environment's `step_env` / `reset_env` / `is_truncated` directly, as
gymnax's own `step` does; a gymnax wrapper (`gymnax.wrappers.*`) forwards those attributes to the
environment it wraps and would be silently skipped, so a wrapped environment is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from research.rng import RNG_WORDS, draw_bits, env_keys


def check_unwrapped(env) -> None:
  """Raises ValueError for a gymnax wrapper (its `step`/`reset` would be bypassed here)."""
  from gymnax.wrappers.purerl import GymnaxWrapper

  if isinstance(env, GymnaxWrapper):
    raise ValueError(f"env: {type(env).__name__} is a gymnax wrapper; research.envs steps "
                     "environments with step_env/reset_env, which a wrapper forwards to the "
                     "environment inside it, so the wrapper would silently do nothing. Pass the "
                     "unwrapped environment (and apply observation changes in the network).")


def num_actions(env, env_params) -> int:
  return int(env.action_space(env_params).n)


def obs_shape(env, env_params) -> tuple[int, ...]:
  return tuple(env.observation_space(env_params).shape)


def reset_batch(env, env_params, keys):
  """`env.reset_env` over keys of any batch shape: `(obs[*B, ...], state[*B, ...])`."""
  check_unwrapped(env)
  fn = lambda k: env.reset_env(k, env_params)
  for _ in range(keys.ndim):
    fn = jax.vmap(fn)
  return fn(keys)


class StepResult(NamedTuple):
  """One auto-reset step of one environment (as gymnax 1.0's `Environment.step`)."""

  obs: Any            # the next observation (of the new episode after a reset)
  state: Any          # the next state (reset after an episode end)
  reward: jax.Array
  terminated: jax.Array
  truncated: jax.Array
  final_obs: Any      # the pre-reset observation (= obs when the episode goes on)


def auto_reset_step(env, env_params, key, state, action, reset_obs, reset_state) -> StepResult:
  """gymnax 1.0's `Environment.step` with the reset drawn beforehand.

  `env.step(key, ...)` splits `key` into `(key_step, key_reset)`, steps, checks the time limit
  and, on `terminated ∨ truncated`, swaps in `env.reset_env(key_reset)`. Here the reset is passed
  in (`reset_batch` computes a whole rollout's resets in one call), so with `key = key_step` and
  `reset_* = env.reset_env(key_reset)` the result equals `env.step`'s.
  """
  check_unwrapped(env)
  obs_st, state_st, reward, terminated, _ = env.step_env(key, state, action, env_params)
  truncated = env.is_truncated(state_st, env_params)
  done = jnp.logical_or(terminated, truncated)
  state_next = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), reset_state, state_st)
  obs_next = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), reset_obs, obs_st)
  return StepResult(obs_next, state_next, jnp.asarray(reward, jnp.float32),
                    jnp.asarray(terminated, bool), jnp.asarray(truncated, bool), obs_st)


class EnvCarry(NamedTuple):
  """The environments' side of a training state: `N` environments and their running episodes."""

  state: Any                # env states [N, ...]
  obs: jax.Array            # current observations [N, ...]
  episode_return: jax.Array  # return so far of the running episodes [N]
  episode_length: jax.Array  # steps so far [N] (int32)
  last_return: jax.Array    # return of each environment's last finished episode [N]


def env_init(env, env_params, keys) -> EnvCarry:
  """Resets `N = len(keys)` environments (typed keys)."""
  obs, state = reset_batch(env, env_params, keys)
  n = keys.shape[0]
  zeros = jnp.zeros((n,), jnp.float32)
  return EnvCarry(state, obs, zeros, jnp.zeros((n,), jnp.int32), zeros)


class Trajectory(NamedTuple):
  """`T` steps of `N` environments, time-major (`[T, N, ...]`)."""

  obs: jax.Array
  action: jax.Array
  reward: jax.Array
  terminated: jax.Array
  truncated: jax.Array
  final_obs: jax.Array       # pre-reset next observations (for bootstrapping truncations)
  episode_return: jax.Array  # return of the episode that ended at this step (0 where none)


def env_step(env, env_params, carry: EnvCarry, action, step_keys, reset_obs, reset_state):
  """Steps `N` environments with auto-reset and keeps the episode statistics.

  Returns `(carry, StepResult, finished_return[N])`, `finished_return` being the return of the
  episode that ended at this step (0 where none did).
  """
  check_unwrapped(env)
  result = jax.vmap(lambda k, s, a, ro, rs: auto_reset_step(env, env_params, k, s, a, ro, rs))(
      step_keys, carry.state, action, reset_obs, reset_state)
  done = jnp.logical_or(result.terminated, result.truncated)
  ret = carry.episode_return + result.reward
  new = EnvCarry(result.state, result.obs, jnp.where(done, 0.0, ret),
                 jnp.where(done, 0, carry.episode_length + 1),
                 jnp.where(done, ret, carry.last_return))
  return new, result, jnp.where(done, ret, 0.0)


def rollout(env, env_params, carry: EnvCarry, act: Callable, uniforms, step_keys, reset_keys,
            *, unroll: int = 1):
  """`T` auto-reset steps of `N` environments under `act(obs[N], u[N]) -> action[N]`.

  Args:
    env, env_params: the environment.
    carry: the environments' state.
    act: the behaviour policy, given the observations and one uniform per environment.
    uniforms: `[T, N]` floats in `[0, 1)`.
    step_keys: `[T, N]` keys for `step_env`.
    reset_keys: `[T, N]` keys for the resets (computed for all steps at once).
    unroll: `lax.scan` unroll factor.

  Returns:
    `(carry, Trajectory)`.
  """
  reset_obs, reset_state = reset_batch(env, env_params, reset_keys)

  def body(c: EnvCarry, x):
    u, k, ro, rs = x
    action = act(c.obs, u)
    c2, res, finished = env_step(env, env_params, c, action, k, ro, rs)
    return c2, Trajectory(c.obs, action, res.reward, res.terminated, res.truncated,
                          res.final_obs, finished)

  return jax.lax.scan(body, carry, (uniforms, step_keys, reset_obs, reset_state), unroll=unroll)


def greedy_evaluation(env, env_params, greedy: Callable, rng, num_episodes: int,
                      max_steps: int) -> jax.Array:
  """Returns of `num_episodes` episodes of `greedy(obs[N]) -> action[N]`, one per environment.

  Each environment runs until its episode ends (or `max_steps`, at least the time limit); steps
  after the end are ignored.
  """
  _, bits = draw_bits(rng, {"reset": (num_episodes, RNG_WORDS),
                            "step": (max_steps, num_episodes, RNG_WORDS)})
  obs, state = reset_batch(env, env_params, env_keys(bits["reset"]))
  step_keys = env_keys(bits["step"])

  def body(c, k):
    obs, state, ret, alive = c
    action = greedy(obs)
    obs2, state2, r, term, _ = jax.vmap(lambda kk, s, a: env.step_env(kk, s, a, env_params))(
        k, state, action)
    trunc = jax.vmap(lambda s: env.is_truncated(s, env_params))(state2)
    ret = ret + jnp.where(alive, r, 0.0)
    alive = jnp.logical_and(alive, ~jnp.logical_or(term, trunc))
    return (obs2, state2, ret, alive), None

  init = (obs, state, jnp.zeros((num_episodes,), jnp.float32), jnp.ones((num_episodes,), bool))
  (_, _, ret, _), _ = jax.lax.scan(body, init, step_keys)
  return ret


def max_episode_steps(env_params) -> int:
  return int(env_params.max_steps_in_episode)
