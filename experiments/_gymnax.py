"""Shared pieces of the gymnax experiments (ppo, dqn, pg): environments, rollouts, evaluation,
random numbers and the report's tables and plots.

Random numbers: each random-number-generation site in a compiled step is its own kernel for
XLA to compile; a threefry site costs ~0.7 s of compile time on this CPU, ~2.5 s when vmapped
over per-environment keys. A training update therefore draws all its random bits with ONE
threefry call (`draw_bits`) and hands them out: uniforms for actions and minibatch shuffles, the
next update's key, and the keys of the environments' own draws (`step_env`, and the resets of a
whole rollout, computed in one vmapped call before it by `reset_batch`), which use `ENV_RNG`, a
light counter-based generator keyed by those bits.

Episode ends follow gymnax 1.0: `step_env` reports `terminated`, the time limit
(`env.is_truncated`) reports `truncated`, and on either the environment is reset; the pre-reset
observation is kept as `final_obs` so that a truncation can be bootstrapped from it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

from research import models, rl
from research.runtime import Plot, Report, Series, Table, format_pm, require, summarize

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


def num_actions(env, env_params) -> int:
  return int(env.action_space(env_params).n)


def obs_shape(env, env_params) -> tuple[int, ...]:
  return tuple(env.observation_space(env_params).shape)


# --- random numbers -------------------------------------------------------------------------------

# The training stream is threefry, drawn ONCE per update (`draw_bits`); the state stores its key
# as raw uint32 data `[2]`, so checkpoints hold plain arrays. Environment keys (one per
# environment and step, for `step_env` and the resets) use `ENV_RNG`, a light counter-based
# generator keyed by threefry bits: threefry vmapped over per-environment keys lowers on XLA:CPU
# to a rolled `while` loop that costs ~2.5 s of compile time per call site, this one to a few
# fused integer ops. (JAX's built-in Philox is as cheap but its `mulhi` fails to lower when the
# seeds are sharded over several devices.)
RNG_WORDS = 2
_GOLDEN = np.uint32(0x9E3779B9)


def _fmix32(h):
  """MurmurHash3's 32-bit finaliser (a bijection with full avalanche)."""
  h = h ^ (h >> 16)
  h = h * np.uint32(0x85EBCA6B)
  h = h ^ (h >> 13)
  h = h * np.uint32(0xC2B2AE35)
  return h ^ (h >> 16)


def _hash_words(key, n: int, stream: int = 0):
  """`n` uint32 words of the stream `stream` of `key` (`[2]`): two keyed rounds of fmix32."""
  i = jnp.arange(n, dtype=jnp.uint32) + np.uint32(stream) * np.uint32(0x632BE5AB)
  x = _fmix32(i * _GOLDEN + key[0])
  return _fmix32(x ^ key[1] ^ np.uint32(0x5BD1E995))


def _env_rng_bits(key, bit_width, shape):
  n = math.prod(shape)
  words = _hash_words(key, n * max(1, bit_width // 32))
  if bit_width == 64:
    words = words.reshape(n, 2).astype(jnp.uint64)
    return ((words[:, 0] << 32) | words[:, 1]).reshape(shape)
  dtype = {8: jnp.uint8, 16: jnp.uint16, 32: jnp.uint32}[bit_width]
  return words.astype(dtype).reshape(shape)


def _env_rng_split(key, shape):
  return _hash_words(key, math.prod(shape) * RNG_WORDS, stream=1).reshape((*shape, RNG_WORDS))


def _env_rng_fold_in(key, data):
  d = _fmix32(jnp.asarray(data, jnp.uint32) + _GOLDEN)
  return jnp.stack([_fmix32(key[0] ^ d), _fmix32(key[1] + d * np.uint32(0x27D4EB2F))])


def _env_rng_seed(seed):
  s = jnp.asarray(seed).astype(jnp.uint32)
  return jnp.stack([_fmix32(s), _fmix32(s ^ np.uint32(0xA5A5A5A5))])


ENV_RNG = jax.extend.random.define_prng_impl(
    key_shape=(RNG_WORDS,), seed=_env_rng_seed, split=_env_rng_split,
    random_bits=_env_rng_bits, fold_in=_env_rng_fold_in, name="fmix32x2", tag="fm")


def rng_from_key(key) -> jax.Array:
  """Raw threefry key data (uint32 `[2]`) of the runtime's per-member key."""
  return jax.random.key_data(key).reshape(RNG_WORDS).astype(jnp.uint32)


def as_key(data):
  """Typed threefry keys from raw data `[..., 2]`."""
  return jax.random.wrap_key_data(jnp.asarray(data, jnp.uint32), impl="threefry2x32")


def env_keys(data):
  """Typed `ENV_RNG` keys from raw bits `[..., 2]`, for `step_env` and `reset_env`."""
  return jax.random.wrap_key_data(jnp.asarray(data, jnp.uint32), impl=ENV_RNG)


def draw_bits(rng, sizes: dict[str, tuple[int, ...]]):
  """One random draw split into named uint32 arrays, plus the next key data.

  Args:
    rng: raw key data `[2]` (see `as_key`).
    sizes: name -> shape of the uint32 array wanted. A shape ending in `RNG_WORDS` can be turned
      into keys with `as_key`.

  Returns:
    `(next_rng, {name: bits})`.
  """
  counts = {k: math.prod(s) for k, s in sizes.items()}
  bits = jax.random.bits(as_key(rng), (RNG_WORDS + sum(counts.values()),), jnp.uint32)
  out, offset = {}, RNG_WORDS
  for name, shape in sizes.items():
    out[name] = bits[offset:offset + counts[name]].reshape(shape)
    offset += counts[name]
  return bits[:RNG_WORDS], out


def permutation_from_bits(bits) -> jax.Array:
  """A uniformly random permutation of `n = len(bits)` from `n` random uint32 words.

  Sorts the words with each one's index packed into its low `⌈log₂ n⌉` bits (so the keys are
  distinct) and reads the indices back: one sort of a plain uint32 array, about 5× faster on
  XLA:CPU than `argsort` (a sort with a payload and a comparator call per comparison). Ties in
  the remaining high bits are broken by index; with `n = 512` some pair ties with probability
  ≈ n² / 2^24 ≈ 1.6% per permutation, which does not matter for shuffling minibatches.
  """
  n = bits.shape[-1]
  shift = max(1, int(n - 1).bit_length())
  require(shift <= 24, f"permutation_from_bits supports n ≤ 2^24, got {n}")
  mask = np.uint32((1 << shift) - 1)
  keys = (bits & ~mask) | jnp.arange(n, dtype=jnp.uint32)
  return (jnp.sort(keys, axis=-1) & mask).astype(jnp.int32)


def flat_params_unravel(init_fn):
  """The `unravel` of `jax.flatten_util.ravel_pytree` for the parameters `init_fn(key)` makes."""
  from jax.flatten_util import ravel_pytree

  shapes = jax.eval_shape(init_fn, env_keys(jnp.zeros((RNG_WORDS,), jnp.uint32)))
  return ravel_pytree(jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes))[1]


# --- stepping with auto-reset ------------------------------------------------------------------


def reset_batch(env, env_params, keys):
  """`env.reset_env` over keys of any batch shape: `(obs[*B, ...], state[*B, ...])`."""
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


# --- reporting ---------------------------------------------------------------------------------


def ci_cell(values, digits=1) -> str:
  return format_pm(summarize(np.asarray(values, np.float64)), digits)


def speed_cells(info, env_steps_per_chunk: int) -> dict[str, str]:
  """Compile time and environment steps per second (all members), excluding and including it."""
  steps = env_steps_per_chunk * info.chunks_run * info.members.num_members
  run = max(info.run_seconds, 1e-9)
  return {"compile s": f"{info.compile_seconds:.1f}",
          "run s": f"{info.run_seconds:.1f}",
          "env steps/s (excl. compile)": f"{steps / run:,.0f}",
          "env steps/s (incl. compile)": f"{steps / (run + info.compile_seconds):,.0f}"}


def machine_load() -> str:
  """The 1/5/15-minute load averages and the CPU count (other jobs share the machine)."""
  try:
    load = os.getloadavg()
  except OSError:
    return "load average unavailable"
  return (f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} "
          "CPUs when the report was made")


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
    mean, lo, hi = [], [], []
    for row in values:
      s = summarize(row)
      mean.append(s.mean)
      lo.append(s.ci_low)
      hi.append(s.ci_high)
    label = (members.point_label(p) if len(members.points) > 1
             else "mean, 95% Student-t CI over seeds")
    series.append(Series(label, x, np.array(mean), np.array(lo), np.array(hi)))
  return Plot(name, title, "environment steps per seed", "episode return", series)


def return_report(algo, config, final, history, info, env_steps_per_chunk) -> Report:
  """`algo`'s results: return vs published and speed, per-seed finals, learning curves."""
  members = info.members
  multi = len(members.points) > 1
  published = PUBLISHED_RETURN.get(config.env_name)
  steps_per_seed = env_steps_per_chunk * len(history["return"])
  tail = max(1, len(history["return"]) // 4)
  speed = speed_cells(info, env_steps_per_chunk)
  rows, seed_rows = [], []
  for p in range(len(members.points)):
    sel = members.point_index == p
    last = history["return"][-1, sel]
    tail_mean = history["return"][-tail:, sel].mean(axis=0)
    greedy = np.asarray(final["eval_return"])[sel].mean(axis=1)
    rows.append(([members.point_label(p)] if multi else []) + [
        config.env_name, int(sel.sum()), f"{steps_per_seed:,}", ci_cell(last),
        ci_cell(tail_mean), ci_cell(greedy),
        "—" if published is None else f"{published:g}",
        speed["compile s"], speed["run s"], speed["env steps/s (excl. compile)"],
        speed["env steps/s (incl. compile)"]])
    for i, m in enumerate(np.flatnonzero(sel)):
      seed_rows.append(([members.point_label(p)] if multi else []) + [
          int(members.seed_index[m]), f"{last[i]:.1f}", f"{greedy[i]:.1f}"])
  point = ["sweep point"] if multi else []
  caption = (f"{algo} on gymnax {config.env_name}: training return = mean return of the episodes "
             f"finished in the last chunk ({env_steps_per_chunk:,} steps per seed), and over the "
             f"last {tail} chunk(s); greedy = {config.eval_episodes} greedy-policy episodes per "
             "seed after training; mean ± 95% Student-t CI over seeds. Published: gymnax README / "
             "gymnax-blines PPO checkpoints (CartPole-v1 500, Acrobot-v1 ≈ −80, Breakout-MinAtar "
             "≈ 28). Speed: environment steps of all members per second of the chunks run, "
             f"excluding and including the compile time; {info.num_devices} device(s). "
             + machine_load() + ".")
  tables = [
      Table(f"{algo} on {config.env_name}",
            point + ["environment", "seeds", "env steps per seed", "training return (last chunk)",
                     f"training return (last {tail} chunks)", "greedy return", "published",
                     "compile s", "run s", "env steps/s excl. compile",
                     "env steps/s incl. compile"], rows, caption),
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
  notes = (f"compile {info.compile_seconds:.1f} s (init + step; a warm persistent compilation "
           "cache makes this small: pass --cache_dir= to measure a cold compile); "
           f"{machine_load()}.")
  return Report(tables, plots, notes)
