"""PPO on gymnax environments (CartPole-v1, Acrobot-v1, Breakout-MinAtar), PureJaxRL-style.

The member state (one seed at one sweep point) holds the parameters, the optimiser state, `N`
environments, the key, the update counter and the sweepable hyperparameters. One chunk (`step`)
is a `lax.scan` over `updates_per_chunk` PPO updates; an update collects `num_steps` steps of
`num_envs` environments, computes GAE advantages (bootstrapping through time-limit truncations
from the pre-reset observation, not through terminations), then runs `update_epochs` epochs of
`num_minibatches` minibatches: clipped surrogate, clipped value loss, entropy bonus, advantage
normalisation per minibatch, global gradient-norm clipping, Adam with a linearly annealed
learning rate (a function of the update counter in the state, so chunking does not change it).

A greedy-policy evaluation runs in `finalize` at the end of training (and every `eval_every`
chunks inside `step` when asked).

See 'Proximal Policy Optimization Algorithms' by J. Schulman, F. Wolski, P. Dhariwal, A. Radford
and O. Klimov (https://arxiv.org/abs/1707.06347) and PureJaxRL by C. Lu et al.
(https://github.com/luchris429/purejaxrl).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from research import envs, models, rl
from research import rng as prng
from research.runtime import Experiment, require

HPARAMS = ("lr", "ent_coef", "clip_eps", "vf_coef", "max_grad_norm", "gamma", "gae_lambda")


class Batch(NamedTuple):
  obs: jax.Array
  action: jax.Array
  logp: jax.Array
  value: jax.Array
  advantage: jax.Array
  target: jax.Array


def check_config(config) -> None:
  """Raises ConfigError (one line) for a config PPO cannot run (reads the config only)."""
  for field in ("num_envs", "num_steps", "update_epochs", "num_minibatches", "num_chunks",
                "total_timesteps"):
    require(int(config[field]) >= 1, f"config.{field} must be ≥ 1, got {config[field]}")
  require(int(config.get("rollout_unroll", 1)) >= 1,
          f"config.rollout_unroll must be ≥ 1, got {config.get('rollout_unroll')}")
  batch = config.num_envs * config.num_steps
  require(batch % config.num_minibatches == 0,
          f"config.num_minibatches ({config.num_minibatches}) must divide the batch "
          f"num_envs × num_steps = {config.num_envs} × {config.num_steps} = {batch}")
  updates = config.total_timesteps // batch
  require(updates >= config.num_chunks and updates % config.num_chunks == 0,
          f"the number of updates total_timesteps // (num_envs × num_steps) = "
          f"{config.total_timesteps} // {batch} = {updates} must be a positive multiple of "
          f"config.num_chunks ({config.num_chunks}); divisors: "
          + ", ".join(str(d) for d in range(1, updates + 1) if updates % d == 0)[:200])
  envs.check_agent_config(config)
  # The sweepable hyperparameters (HPARAMS).
  require(config.lr > 0, f"config.lr must be > 0, got {config.lr}")
  require(0.0 <= config.gamma <= 1.0, f"config.gamma must be in [0, 1], got {config.gamma}")
  require(0.0 <= config.gae_lambda <= 1.0,
          f"config.gae_lambda must be in [0, 1], got {config.gae_lambda}")
  require(config.clip_eps > 0, f"config.clip_eps must be > 0 (the ratio and value clip range), "
          f"got {config.clip_eps}")
  require(config.ent_coef >= 0, f"config.ent_coef must be ≥ 0, got {config.ent_coef}")
  require(config.vf_coef >= 0, f"config.vf_coef must be ≥ 0, got {config.vf_coef}")
  require(config.max_grad_norm > 0, f"config.max_grad_norm must be > 0 (the clip has no off "
          f"value), got {config.max_grad_norm}")
  require(config.eval_episodes >= 1, "config.eval_episodes must be ≥ 1")
  require(config.eval_every >= 0, "config.eval_every must be ≥ 0")


def make(config) -> Experiment:
  check_config(config)
  agent = envs.build_agent(config, models.ActorCritic, shared_torso=bool(config.shared_torso),
                        torso=config.torso)
  env, env_params, net, unravel, example_obs = agent
  n_envs, n_steps = int(config.num_envs), int(config.num_steps)
  epochs, n_mb = int(config.update_epochs), int(config.num_minibatches)
  batch_size = n_envs * n_steps
  num_updates = int(config.total_timesteps) // batch_size
  num_chunks = int(config.num_chunks)
  per_chunk = num_updates // num_chunks
  anneal, clip_value = bool(config.anneal_lr), bool(config.clip_value)
  normalize = bool(config.normalize_advantages)
  eval_episodes, eval_every = int(config.eval_episodes), int(config.eval_every)
  eval_steps = envs.max_episode_steps(env_params)
  adam = optax.scale_by_adam(eps=1e-5)
  unroll = int(config.get("rollout_unroll", 1))
  apply = agent.apply

  def init(key, hparams):
    rng, bits = prng.draw_bits(prng.rng_from_key(key), {"net": (prng.RNG_WORDS,),
                                                  "env": (n_envs, prng.RNG_WORDS)})
    params = ravel_pytree(models.init_params(net, prng.env_keys(bits["net"]), example_obs))[0]
    env_carry = envs.env_init(env, env_params, prng.env_keys(bits["env"]))
    state = {"params": params, "opt_state": adam.init(params), "env": env_carry, "rng": rng,
             "update": jnp.zeros((), jnp.int32),
             "hp": {k: jnp.asarray(hparams[k], jnp.float32) for k in HPARAMS}}
    if eval_every:
      state["eval_return"] = jnp.zeros((), jnp.float32)
    return state

  def greedy(params, obs):
    return jnp.argmax(apply(params, obs, method=net.policy), axis=-1).astype(jnp.int32)

  def loss_fn(params, mb: Batch, hp):
    logits, value = apply(params, mb.obs)
    logp = rl.categorical_log_prob(logits, mb.action)
    log_ratio = logp - mb.logp
    ratio = jnp.exp(log_ratio)
    adv = mb.advantage
    if normalize:
      adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg = rl.clipped_surrogate_pg_loss(ratio, adv, hp["clip_eps"])
    if clip_value:
      vl = rl.clipped_value_loss(value, mb.value, mb.target, epsilon=hp["clip_eps"])
    else:
      vl = rl.value_loss(value, mb.target)
    ent = rl.entropy_loss(logits, jnp.ones_like(logp))
    total = pg + hp["vf_coef"] * vl + hp["ent_coef"] * ent
    aux = {"policy_loss": pg, "value_loss": vl, "entropy": -ent,
           "approx_kl": jnp.mean(ratio - 1.0 - log_ratio),
           "clip_fraction": jnp.mean((jnp.abs(ratio - 1.0) > hp["clip_eps"]).astype(jnp.float32))}
    return total, aux

  def sgd_step(carry, mb: Batch):
    params, opt_state, hp, lr = carry
    grads, aux = jax.grad(loss_fn, has_aux=True)(params, mb, hp)
    grads, _ = optax.clip_by_global_norm(hp["max_grad_norm"]).update(grads, optax.EmptyState())
    updates, opt_state = adam.update(grads, opt_state, params)
    params = params - lr * updates
    return (params, opt_state, hp, lr), aux

  def ppo_update(state, _):
    hp, params = state["hp"], state["params"]
    rng, bits = prng.draw_bits(state["rng"], {
        "act": (n_steps, n_envs), "step": (n_steps, n_envs, prng.RNG_WORDS),
        "reset": (n_steps, n_envs, prng.RNG_WORDS), "perm": (epochs, batch_size)})
    uniforms = prng.uniform_from_bits(bits["act"])
    tree = unravel(params)   # unravelled once per update, outside the rollout loop
    env_carry, traj = envs.rollout(
        env, env_params, state["env"],
        lambda o, u: prng.categorical_from_uniform(u, net.apply(tree, o, method=net.policy)),
        uniforms,
        prng.env_keys(bits["step"]), prng.env_keys(bits["reset"]), unroll=unroll)

    # Values and old log-probabilities in one batched pass; values of the pre-reset next
    # observations (for truncations) and of the last observations (the rollout's bootstrap).
    flat = lambda x: x.reshape((batch_size, *x.shape[2:]))
    logits, values = net.apply(tree, flat(traj.obs))
    logp = rl.categorical_log_prob(logits, flat(traj.action))
    next_obs = jnp.concatenate([flat(traj.final_obs), env_carry.obs])
    next_values = net.apply(tree, next_obs, method=net.value)
    v_final = next_values[:batch_size].reshape(n_steps, n_envs)
    v_last = next_values[batch_size:]
    v = values.reshape(n_steps, n_envs)
    adv = rl.truncation_aware_gae(traj.reward, traj.terminated, traj.truncated,
                                  jnp.concatenate([v, v_last[None]]), v_final,
                                  discount=hp["gamma"], lambda_=hp["gae_lambda"])
    batch = Batch(flat(traj.obs), flat(traj.action), logp, values, flat(adv), flat(adv + v))
    batch = jax.tree.map(jax.lax.stop_gradient, batch)

    frac = 1.0 - state["update"].astype(jnp.float32) / num_updates if anneal else 1.0
    lr = hp["lr"] * frac

    def epoch(carry, perm_bits):
      perm = prng.permutation_from_bits(perm_bits)
      shuffled = jax.tree.map(
          lambda x: x[perm].reshape((n_mb, batch_size // n_mb, *x.shape[1:])), batch)
      return jax.lax.scan(sgd_step, carry, shuffled)

    (params, opt_state, _, _), aux = jax.lax.scan(
        epoch, (params, state["opt_state"], hp, lr), bits["perm"])
    done = jnp.logical_or(traj.terminated, traj.truncated)
    metrics = {k: v.mean() for k, v in aux.items()}
    metrics.update(return_sum=traj.episode_return.sum(), episodes=done.sum().astype(jnp.float32),
                   lr=lr)
    new_state = {**state, "params": params, "opt_state": opt_state, "env": env_carry,
                 "rng": rng, "update": state["update"] + 1}
    return new_state, metrics

  def evaluate(params, rng):
    return envs.greedy_evaluation(env, env_params, lambda o: greedy(params, o), rng, eval_episodes,
                               eval_steps)

  def step(state):
    state, m = jax.lax.scan(ppo_update, state, None, length=per_chunk)
    count = m.pop("episodes").sum()
    return_sum = m.pop("return_sum").sum()
    metrics = {k: v.mean() for k, v in m.items()}
    metrics["lr"] = m["lr"][-1]
    metrics["episodes"] = count
    metrics["return"] = jnp.where(count > 0, return_sum / jnp.maximum(count, 1.0),
                                  state["env"].last_return.mean())
    if eval_every:
      chunk = state["update"] // per_chunk
      due = jnp.logical_or(chunk % eval_every == 0, chunk == num_chunks)
      ret = jax.lax.cond(due, lambda: evaluate(state["params"], state["rng"] ^ 1).mean(),
                         lambda: state["eval_return"])
      state = {**state, "eval_return": ret}
      metrics["eval_return"] = ret
    return state, metrics

  def finalize(state):
    return {"eval_return": evaluate(state["params"], state["rng"] ^ 2),
            "last_return": state["env"].last_return, "update": state["update"]}

  def report(final, history, info):
    return envs.return_report("PPO", config, final, history, info, per_chunk * batch_size)

  return Experiment(
      init=init, step=step, num_chunks=num_chunks, report=report,
      hparams={k: float(config[k]) for k in HPARAMS},
      updates_per_chunk=per_chunk, env_steps_per_chunk=per_chunk * batch_size,
      finalize=finalize, log_members=True, check_config=check_config)
