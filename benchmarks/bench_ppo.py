"""Benchmark: PPO on CartPole-v1, this codebase vs PureJaxRL's `ppo.py`, same machine and load.

    python -m benchmarks.bench_ppo                  # 8 seeds, 5e5 steps each, both programs
    python -m benchmarks.bench_ppo --seeds=8 --devices=2 --skip_baseline

Both run PureJaxRL's CartPole hyperparameters (docs/SPEC.md §3) with 8 seeds vmapped in one program.
For each, the table gives the cold compile time (no persistent cache), the run time, environment
steps per second of all seeds excluding and including compilation, and the final return (mean of
the episodes finished in the last 1/16 of training, mean ± 95% CI over seeds). The machine's
load average is printed with the numbers: other jobs may share the cores.

"ours" is `experiments.ppo` driven like `research.runtime.run` drives it (jit(vmap(init)),
jit(vmap(step)) over 16 chunks); `--devices=N` shards the seeds over N host-platform CPU devices
(`--xla_force_host_platform_device_count`). "PureJaxRL" is PureJaxRL's `purejaxrl/ppo.py`
(luchris429/purejaxrl) transcribed for gymnax 1.0 (`step` returns terminated and truncated
separately; PureJaxRL's `done` is their `or`) and without distrax (the same categorical sampling
through `jax.random.categorical`), compiled and run as `jax.jit(jax.vmap(make_train(config)))`.
One change is forced: flax's orthogonal initialiser calls LAPACK's batched QR, whose jaxlib
kernel (`ParallelBatchMap` on the 2-thread intra-op pool) deadlocks on this machine when several
QRs run at once (it hung 2 runs out of 5 here); the baseline orthogonalises with the same
Gram–Schmidt as `research.models.init_params` instead (same matrices up to rounding, one threefry
draw per layer as before).

Measured on the 2-core CPU at load ≈ 1.5 (other jobs running), 8 seeds: ours 7.4 s compile,
121,868 env steps/s (99,467 incl. compile), return 500.0 ± 0.0; PureJaxRL 13.7 s, 109,521
(79,701), 491.0 ± 5.2. Through the launcher with `--jax_num_cpu_devices=2` (seeds sharded over
both cores): 217,038 env steps/s, 7.5 s compile.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time


def _parse():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--seeds", type=int, default=8)
  p.add_argument("--timesteps", type=int, default=500_000)
  p.add_argument("--devices", type=int, default=1, help="CPU devices to shard the seeds over")
  p.add_argument("--skip_baseline", action="store_true", help="do not run PureJaxRL's program")
  p.add_argument("--skip_ours", action="store_true")
  p.add_argument("--baseline_first", action="store_true", help="run PureJaxRL's program first")
  return p.parse_args()


def purejaxrl_make_train(config):
  """PureJaxRL's `make_train` (purejaxrl/ppo.py), for gymnax 1.0 and without distrax."""
  import flax.linen as nn
  import gymnax
  import jax
  import jax.numpy as jnp
  import numpy as np
  import optax
  from flax.linen.initializers import constant
  from flax.training.train_state import TrainState

  from research.models import orthonormal_columns

  def orthogonal(scale):
    """`flax.linen.initializers.orthogonal` with the LAPACK QR replaced by Gram–Schmidt (same
    matrices up to rounding): the batched QR kernel deadlocks on this 2-core machine."""
    def init(key, shape, dtype=jnp.float32):
      rows, cols = math.prod(shape[:-1]), shape[-1]
      a = jax.random.normal(key, (max(rows, cols), min(rows, cols)), dtype)
      q = orthonormal_columns(a)
      return scale * (q.T if rows < cols else q).reshape(shape)
    return init

  class ActorCritic(nn.Module):
    action_dim: int

    @nn.compact
    def __call__(self, x):
      a = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x))
      a = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(a))
      a = nn.Dense(self.action_dim, kernel_init=orthogonal(0.01), bias_init=constant(0.0))(a)
      c = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x))
      c = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(c))
      c = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=constant(0.0))(c)
      return a, jnp.squeeze(c, axis=-1)

  def log_prob(logits, a):
    return jnp.take_along_axis(jax.nn.log_softmax(logits), a[..., None], -1)[..., 0]

  def entropy(logits):
    lp = jax.nn.log_softmax(logits)
    return -(jnp.exp(lp) * lp).sum(-1)

  num_updates = config["TOTAL_TIMESTEPS"] // config["NUM_STEPS"] // config["NUM_ENVS"]
  minibatch = config["NUM_ENVS"] * config["NUM_STEPS"] // config["NUM_MINIBATCHES"]
  env, env_params = gymnax.make(config["ENV_NAME"])

  def linear_schedule(count):
    frac = 1.0 - (count // (config["NUM_MINIBATCHES"] * config["UPDATE_EPOCHS"])) / num_updates
    return config["LR"] * frac

  def train(rng):
    network = ActorCritic(env.action_space(env_params).n)
    rng, _rng = jax.random.split(rng)
    params = network.init(_rng, jnp.zeros(env.observation_space(env_params).shape))
    tx = optax.chain(optax.clip_by_global_norm(config["MAX_GRAD_NORM"]),
                     optax.adam(learning_rate=linear_schedule, eps=1e-5))
    train_state = TrainState.create(apply_fn=network.apply, params=params, tx=tx)
    rng, _rng = jax.random.split(rng)
    obsv, env_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(_rng, config["NUM_ENVS"]), env_params)
    ep_ret = jnp.zeros(config["NUM_ENVS"])

    def _update_step(runner_state, unused):
      def _env_step(runner_state, unused):
        train_state, env_state, last_obs, ep_ret, rng = runner_state
        rng, _rng = jax.random.split(rng)
        logits, value = network.apply(train_state.params, last_obs)
        action = jax.random.categorical(_rng, logits)
        lp = log_prob(logits, action)
        rng, _rng = jax.random.split(rng)
        rng_step = jax.random.split(_rng, config["NUM_ENVS"])
        obsv, env_state, reward, term, trunc, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None))(rng_step, env_state, action, env_params)
        done = jnp.logical_or(term, trunc)
        new_ret = ep_ret + reward
        transition = (done, action, value, reward, lp, last_obs, done, new_ret)
        ep_ret = jnp.where(done, 0.0, new_ret)
        return (train_state, env_state, obsv, ep_ret, rng), transition

      runner_state, traj = jax.lax.scan(_env_step, runner_state, None, config["NUM_STEPS"])
      train_state, env_state, last_obs, ep_ret, rng = runner_state
      _, last_val = network.apply(train_state.params, last_obs)
      t_done, t_action, t_value, t_reward, t_logp, t_obs, ret_done, ret_val = traj

      def _get_advantages(carry, x):
        gae, next_value = carry
        done, value, reward = x
        delta = reward + config["GAMMA"] * next_value * (1 - done) - value
        gae = delta + config["GAMMA"] * config["GAE_LAMBDA"] * (1 - done) * gae
        return (gae, value), gae

      _, advantages = jax.lax.scan(_get_advantages, (jnp.zeros_like(last_val), last_val),
                                   (t_done, t_value, t_reward), reverse=True, unroll=16)
      targets = advantages + t_value

      def _update_epoch(update_state, unused):
        def _update_minbatch(train_state, batch_info):
          obs, action, value_old, logp_old, gae, targets = batch_info

          def _loss_fn(params):
            logits, value = network.apply(params, obs)
            lp = log_prob(logits, action)
            value_pred_clipped = value_old + (value - value_old).clip(
                -config["CLIP_EPS"], config["CLIP_EPS"])
            value_loss = 0.5 * jnp.maximum(jnp.square(value - targets),
                                           jnp.square(value_pred_clipped - targets)).mean()
            ratio = jnp.exp(lp - logp_old)
            g = (gae - gae.mean()) / (gae.std() + 1e-8)
            loss_actor = -jnp.minimum(ratio * g, jnp.clip(
                ratio, 1.0 - config["CLIP_EPS"], 1.0 + config["CLIP_EPS"]) * g).mean()
            ent = entropy(logits).mean()
            return loss_actor + config["VF_COEF"] * value_loss - config["ENT_COEF"] * ent

          grads = jax.grad(_loss_fn)(train_state.params)
          return train_state.apply_gradients(grads=grads), None

        train_state, rng = update_state
        rng, _rng = jax.random.split(rng)
        batch_size = minibatch * config["NUM_MINIBATCHES"]
        permutation = jax.random.permutation(_rng, batch_size)
        batch = (t_obs, t_action, t_value, t_logp, advantages, targets)
        batch = jax.tree.map(lambda x: x.reshape((batch_size,) + x.shape[2:]), batch)
        shuffled = jax.tree.map(lambda x: jnp.take(x, permutation, axis=0), batch)
        minibatches = jax.tree.map(
            lambda x: jnp.reshape(x, [config["NUM_MINIBATCHES"], -1] + list(x.shape[1:])),
            shuffled)
        train_state, _ = jax.lax.scan(_update_minbatch, train_state, minibatches)
        return (train_state, rng), None

      (train_state, rng), _ = jax.lax.scan(_update_epoch, (train_state, rng), None,
                                           config["UPDATE_EPOCHS"])
      finished = (ret_val * ret_done).sum() / jnp.maximum(ret_done.sum(), 1)
      return (train_state, env_state, last_obs, ep_ret, rng), (finished, ret_done.sum())

    rng, _rng = jax.random.split(rng)
    runner_state = (train_state, env_state, obsv, ep_ret, _rng)
    _, metric = jax.lax.scan(_update_step, runner_state, None, num_updates)
    return metric

  return train, num_updates


def _summary(values):
  import numpy as np

  from research.runtime import format_pm, summarize
  return format_pm(summarize(np.asarray(values, np.float64)), 1)


def bench_purejaxrl(seeds, timesteps):
  import jax
  import numpy as np

  config = {"LR": 2.5e-4, "NUM_ENVS": 4, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": timesteps,
            "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95,
            "CLIP_EPS": 0.2, "ENT_COEF": 0.01, "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5,
            "ENV_NAME": "CartPole-v1"}
  train, num_updates = purejaxrl_make_train(config)
  rngs = jax.random.split(jax.random.PRNGKey(30), seeds)
  t0 = time.perf_counter()
  compiled = jax.jit(jax.vmap(train)).lower(rngs).compile()
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  finished, count = jax.block_until_ready(compiled(rngs))
  run_s = time.perf_counter() - t0
  finished, count = np.asarray(finished), np.asarray(count)
  tail = max(1, num_updates // 16)
  final = (finished[:, -tail:] * count[:, -tail:]).sum(1) / np.maximum(count[:, -tail:].sum(1), 1)
  steps = num_updates * config["NUM_STEPS"] * config["NUM_ENVS"] * seeds
  return compile_s, run_s, steps, final


def bench_ours(seeds, timesteps):
  import jax
  import jax.numpy as jnp
  import numpy as np

  from configs import ppo as ppo_config
  from experiments import ppo
  from research.runtime import devices

  config = ppo_config.get_config("CartPole-v1")
  config.num_seeds = seeds
  config.total_timesteps = timesteps
  exp = ppo.make(config)
  sharding = devices.seed_sharding()
  n = seeds + (-seeds) % jax.device_count()
  index = jax.device_put(np.arange(n, dtype=np.uint32), sharding)
  keys = jax.jit(jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i)),
                 out_shardings=sharding)(index)
  hp = {k: jax.device_put(np.full((n,), v, np.float32), sharding)
        for k, v in exp.hparams.items()}
  t0 = time.perf_counter()
  init = jax.jit(jax.vmap(exp.init), out_shardings=sharding).lower(keys, hp).compile()
  abstract = jax.eval_shape(jax.vmap(exp.init), keys, hp)
  abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
                          abstract)
  step = jax.jit(jax.vmap(exp.step), donate_argnums=0,
                 out_shardings=sharding).lower(abstract).compile()
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  state = init(keys, hp)
  returns = []
  for _ in range(exp.num_chunks):
    state, metrics = step(state)
    returns.append(np.asarray(metrics["return"])[:seeds])
  jax.block_until_ready(state)
  run_s = time.perf_counter() - t0
  del jnp
  steps = exp.env_steps_per_chunk * exp.num_chunks * seeds
  return compile_s, run_s, steps, returns[-1]


def main():
  args = _parse()
  if args.devices > 1:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={args.devices}")
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  import jax

  rows = []
  load_before = os.getloadavg()
  if not args.skip_baseline and args.baseline_first:
    rows.append(("PureJaxRL ppo.py", *bench_purejaxrl(args.seeds, args.timesteps)))
  if not args.skip_ours:
    rows.append(("ours (experiments.ppo)", *bench_ours(args.seeds, args.timesteps)))
  if not args.skip_baseline and not args.baseline_first:
    rows.append(("PureJaxRL ppo.py", *bench_purejaxrl(args.seeds, args.timesteps)))
  load_after = os.getloadavg()
  head = ("program", "compile s", "run s", "env steps/s excl. compile",
          "env steps/s incl. compile", "final return (mean ± 95% CI)")
  print(f"\nPPO CartPole-v1, {args.seeds} seeds × {args.timesteps:,} steps, "
        f"{jax.device_count()} CPU device(s), {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after "
        f"(1 min; 5 min {load_after[1]:.2f})\n")
  print("| " + " | ".join(head) + " |")
  print("|" + "|".join(" --- " for _ in head) + "|")
  for name, compile_s, run_s, steps, final in rows:
    print(f"| {name} | {compile_s:.1f} | {run_s:.1f} | {steps / run_s:,.0f} | "
          f"{steps / (run_s + compile_s):,.0f} | {_summary(final)} |")
  sys.stdout.flush()


if __name__ == "__main__":
  main()
