"""REINFORCE (with and without a learned baseline) and A2C on gymnax CartPole-v1.

Each member (a seed at a sweep point) trains every algorithm named in `config.algorithms`, each
with its own parameters, optimiser, environments and key; one chunk runs each algorithm's share
of updates as a `lax.scan`.

- REINFORCE: an update plays `reinforce_envs` complete episodes with the current policy (no
  auto-reset; steps after an episode's end are masked), computes the Monte-Carlo returns
  `G_t = Σ_k γ^k r_{t+k}` (`research.rl.discounted_returns`; an episode cut by the time limit is
  not bootstrapped: REINFORCE has no critic) and takes one Adam step on
  `policy_gradient_loss(logits, a, G, w=alive)`.
- REINFORCE with baseline: the same with a learned state value `v(s)` (separate critic torso):
  advantage `G_t − v(s_t)`, critic loss `½ (G_t − v(s_t))²`.
- A2C: `a2c_envs` auto-reset environments, `a2c_steps`-step rollouts, GAE advantages
  (`a2c_gae_lambda = 1`: n-step returns; truncations bootstrapped from the pre-reset
  observation), one Adam step per rollout on policy-gradient + value + entropy losses.

See 'Simple Statistical Gradient-Following Algorithms for Connectionist Reinforcement Learning'
by R. J. Williams (https://link.springer.com/article/10.1007/BF00992696) and 'Asynchronous
Methods for Deep Reinforcement Learning' by V. Mnih et al. (https://arxiv.org/abs/1602.01783).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from research import envs, models, rl
from research import rng as prng
from research.runtime import Experiment, Plot, Report, Series, Table, mean_pm, require

ALGORITHMS = ("reinforce", "reinforce_baseline", "a2c")
NAMES = {"reinforce": "REINFORCE", "reinforce_baseline": "REINFORCE with baseline",
         "a2c": "A2C"}
HPARAMS = ("lr", "a2c_lr", "gamma", "ent_coef", "a2c_ent_coef")


def algorithms(config) -> tuple[str, ...]:
  names = tuple(a.strip() for a in str(config.algorithms).split(",") if a.strip())
  require(names and all(a in ALGORITHMS for a in names),
          f"config.algorithms must be a comma-separated subset of {', '.join(ALGORITHMS)}; "
          f"got '{config.algorithms}'")
  return names


def check_config(config) -> None:
  """Raises ConfigError (one line) for a config these agents cannot run (reads the config only)."""
  algorithms(config)
  for field in ("reinforce_envs", "reinforce_updates", "a2c_envs", "a2c_steps",
                "a2c_timesteps", "num_chunks", "eval_episodes"):
    require(int(config[field]) >= 1, f"config.{field} must be ≥ 1, got {config[field]}")
  require(config.reinforce_updates % config.num_chunks == 0,
          f"config.reinforce_updates ({config.reinforce_updates}) must be a multiple of "
          f"config.num_chunks ({config.num_chunks})")
  a2c_updates = config.a2c_timesteps // (config.a2c_envs * config.a2c_steps)
  require(a2c_updates >= config.num_chunks and a2c_updates % config.num_chunks == 0,
          f"the A2C updates a2c_timesteps // (a2c_envs × a2c_steps) = {a2c_updates} must be a "
          f"positive multiple of config.num_chunks ({config.num_chunks})")
  envs.check_agent_config(config)
  require(0.0 <= config.a2c_gae_lambda <= 1.0,
          f"config.a2c_gae_lambda must be in [0, 1], got {config.a2c_gae_lambda}")
  require(config.vf_coef >= 0, f"config.vf_coef must be ≥ 0, got {config.vf_coef}")
  require(config.max_grad_norm > 0, f"config.max_grad_norm must be > 0 (the clip has no off "
          f"value), got {config.max_grad_norm}")
  # The sweepable hyperparameters (HPARAMS).
  require(0.0 <= config.gamma <= 1.0, f"config.gamma must be in [0, 1], got {config.gamma}")
  for field in ("lr", "a2c_lr"):
    require(config[field] > 0, f"config.{field} must be > 0, got {config[field]}")
  for field in ("ent_coef", "a2c_ent_coef"):
    require(config[field] >= 0, f"config.{field} must be ≥ 0, got {config[field]}")


def make(config) -> Experiment:
  check_config(config)
  algos = algorithms(config)
  agent = envs.build_agent(config, models.ActorCritic)
  env, env_params, net, unravel, example_obs = agent
  num_chunks = int(config.num_chunks)
  horizon = envs.max_episode_steps(env_params)
  n_re = int(config.reinforce_envs)
  re_per_chunk = int(config.reinforce_updates) // num_chunks
  n_a2c, t_a2c = int(config.a2c_envs), int(config.a2c_steps)
  a2c_per_chunk = int(config.a2c_timesteps) // (n_a2c * t_a2c) // num_chunks
  lam, vf_coef = float(config.a2c_gae_lambda), float(config.vf_coef)
  eval_episodes = int(config.eval_episodes)
  tx = optax.chain(optax.clip_by_global_norm(float(config.max_grad_norm)),
                   optax.scale_by_adam(eps=1e-5))

  apply = agent.apply

  def init(key, hparams):
    rng, bits = prng.draw_bits(prng.rng_from_key(key), {
        "net": (len(algos), prng.RNG_WORDS), "env": (n_a2c, prng.RNG_WORDS),
        "rng": (len(algos), prng.RNG_WORDS)})
    agents = {}
    for i, name in enumerate(algos):
      theta = ravel_pytree(models.init_params(net, prng.env_keys(bits["net"][i]), example_obs))[0]
      agent = {"params": theta, "opt_state": tx.init(theta), "rng": bits["rng"][i],
               "updates": jnp.zeros((), jnp.int32)}
      if name == "a2c":
        agent["env"] = envs.env_init(env, env_params, prng.env_keys(bits["env"]))
      agents[name] = agent
    del rng
    return {"agents": agents, "hp": {k: jnp.asarray(hparams[k], jnp.float32) for k in HPARAMS}}

  def adam_step(agent, grads, lr):
    updates, opt_state = tx.update(grads, agent["opt_state"])
    return {**agent, "params": agent["params"] - lr * updates, "opt_state": opt_state,
            "updates": agent["updates"] + 1}

  # --- REINFORCE ---------------------------------------------------------------------------

  def play_episodes(theta, bits):
    """`n_re` episodes from fresh resets, `horizon` steps, masked after each episode's end."""
    obs, state = envs.reset_batch(env, env_params, prng.env_keys(bits["reset"]))
    step_keys = prng.env_keys(bits["step"])
    uniforms = prng.uniform_from_bits(bits["act"])
    tree = unravel(theta)

    def body(c, x):
      obs, state, alive = c
      u, k = x
      action = prng.categorical_from_uniform(u, net.apply(tree, obs, method=net.policy))
      obs2, state2, r, term, _ = jax.vmap(lambda kk, s, a: env.step_env(kk, s, a, env_params))(
          k, state, action)
      trunc = jax.vmap(lambda s: env.is_truncated(s, env_params))(state2)
      out = (obs, action, jnp.where(alive, r, 0.0), alive)
      return (obs2, state2, alive & ~(term | trunc)), out

    init_c = (obs, state, jnp.ones((n_re,), bool))
    _, (obs, action, reward, alive) = jax.lax.scan(body, init_c, (uniforms, step_keys))
    return obs, action, reward, alive.astype(jnp.float32)

  def reinforce_update(agent, hp, baseline: bool):
    rng, bits = prng.draw_bits(agent["rng"], {
        "act": (horizon, n_re), "step": (horizon, n_re, prng.RNG_WORDS),
        "reset": (n_re, prng.RNG_WORDS)})
    obs, action, reward, w = play_episodes(agent["params"], bits)
    discounts = jnp.full_like(reward, 1.0) * hp["gamma"]
    returns = jax.vmap(lambda r, d: rl.discounted_returns(r, d, 0.0), in_axes=1, out_axes=1)(
        reward, discounts)
    flat = lambda x: x.reshape((horizon * n_re, *x.shape[2:]))

    def loss_fn(theta):
      logits, value = apply(theta, flat(obs))
      g = flat(returns)
      adv = g - jax.lax.stop_gradient(value) if baseline else g
      loss = rl.policy_gradient_loss(logits, flat(action), adv, flat(w))
      loss += hp["ent_coef"] * rl.entropy_loss(logits, flat(w))
      if baseline:
        loss += vf_coef * jnp.sum(0.5 * jnp.square(g - value) * flat(w)) / jnp.sum(flat(w))
      return loss

    grads = jax.grad(loss_fn)(agent["params"])
    agent = adam_step({**agent, "rng": rng}, grads, hp["lr"])
    episode_return = reward.sum(axis=0)
    return agent, {"return_sum": episode_return.sum(), "episodes": jnp.float32(n_re),
                   "steps": w.sum()}

  # --- A2C -----------------------------------------------------------------------------------

  def a2c_update(agent, hp):
    rng, bits = prng.draw_bits(agent["rng"], {
        "act": (t_a2c, n_a2c), "step": (t_a2c, n_a2c, prng.RNG_WORDS),
        "reset": (t_a2c, n_a2c, prng.RNG_WORDS)})
    tree = unravel(agent["params"])
    carry, traj = envs.rollout(
        env, env_params, agent["env"],
        lambda o, u: prng.categorical_from_uniform(u, net.apply(tree, o, method=net.policy)),
        prng.uniform_from_bits(bits["act"]), prng.env_keys(bits["step"]),
        prng.env_keys(bits["reset"]))
    flat = lambda x: x.reshape((t_a2c * n_a2c, *x.shape[2:]))
    next_obs = jnp.concatenate([flat(traj.final_obs), carry.obs])
    next_v = jax.lax.stop_gradient(net.apply(tree, next_obs, method=net.value))
    v_final = next_v[:t_a2c * n_a2c].reshape(t_a2c, n_a2c)

    def loss_fn(theta):
      logits, value = apply(theta, flat(traj.obs))
      v = value.reshape(t_a2c, n_a2c)
      values = jnp.concatenate([jax.lax.stop_gradient(v), next_v[t_a2c * n_a2c:][None]])
      adv = rl.truncation_aware_gae(traj.reward, traj.terminated, traj.truncated, values,
                                    v_final, discount=hp["gamma"], lambda_=lam)
      ones = jnp.ones((t_a2c * n_a2c,))
      loss = rl.policy_gradient_loss(logits, flat(traj.action), flat(adv), ones)
      loss += vf_coef * rl.value_loss(value, jax.lax.stop_gradient(flat(adv) + value))
      loss += hp["a2c_ent_coef"] * rl.entropy_loss(logits, ones)
      return loss

    grads = jax.grad(loss_fn)(agent["params"])
    agent = adam_step({**agent, "rng": rng, "env": carry}, grads, hp["a2c_lr"])
    done = jnp.logical_or(traj.terminated, traj.truncated)
    return agent, {"return_sum": traj.episode_return.sum(),
                   "episodes": done.sum().astype(jnp.float32),
                   "steps": jnp.float32(t_a2c * n_a2c)}

  def step(state):
    hp, agents, metrics = state["hp"], dict(state["agents"]), {}
    for name in algos:
      if name == "a2c":
        fn, length = lambda a, _: a2c_update(a, hp), a2c_per_chunk
      else:
        fn = (lambda baseline: lambda a, _: reinforce_update(a, hp, baseline))(
            name == "reinforce_baseline")
        length = re_per_chunk
      agent, m = jax.lax.scan(fn, agents[name], None, length=length)
      agents[name] = agent
      count = m["episodes"].sum()
      last = agent["env"].last_return.mean() if name == "a2c" else 0.0
      metrics[f"{name}/return"] = jnp.where(
          count > 0, m["return_sum"].sum() / jnp.maximum(count, 1.0), last)
      metrics[f"{name}/episodes"] = count
      metrics[f"{name}/steps"] = m["steps"].sum()
    return {**state, "agents": agents}, metrics

  def finalize(state):
    out = {}
    for name in algos:
      agent = state["agents"][name]
      greedy = (lambda theta: lambda o: jnp.argmax(apply(theta, o, method=net.policy),
                                                   axis=-1).astype(jnp.int32))(agent["params"])
      out[f"{name}/eval_return"] = envs.greedy_evaluation(env, env_params, greedy,
                                                      agent["rng"] ^ 2, eval_episodes, horizon)
    return out

  def report(final, history, info):
    return pg_report(config, algos, final, history, info)

  steps_per_chunk = (sum(re_per_chunk * n_re * horizon for a in algos if a != "a2c")
                     + (a2c_per_chunk * n_a2c * t_a2c if "a2c" in algos else 0))
  return Experiment(
      init=init, step=step, num_chunks=num_chunks, report=report,
      hparams={k: float(config[k]) for k in HPARAMS},
      updates_per_chunk=sum(a2c_per_chunk if a == "a2c" else re_per_chunk for a in algos),
      env_steps_per_chunk=steps_per_chunk, finalize=finalize, log_members=True,
      check_config=check_config)


def pg_report(config, algos, final, history, info) -> Report:
  members = info.members
  multi = len(members.points) > 1
  rows, plots_series = [], []
  for p in range(len(members.points)):
    sel = members.point_index == p
    for name in algos:
      steps = history[f"{name}/steps"][:, sel]
      last = history[f"{name}/return"][-1, sel]
      greedy = np.asarray(final[f"{name}/eval_return"])[sel].mean(axis=1)
      rows.append(([members.point_label(p)] if multi else []) + [
          NAMES[name], int(sel.sum()), f"{steps.sum(axis=0).mean():,.0f}", mean_pm(last),
          mean_pm(greedy), envs.published_cell(config.env_name)])
      if not multi:
        ret = history[f"{name}/return"][:, sel]
        plots_series.append(Series.over_seeds(NAMES[name], np.cumsum(steps.mean(axis=1)),
                                              ret.T))
  caption = (f"Policy-gradient methods on gymnax {config.env_name}: env steps per seed = "
             "environment steps of the episodes played (mean over seeds); training return = "
             "mean return of the episodes finished in the last chunk; greedy = "
             f"{config.eval_episodes} greedy-policy episodes per seed after training; mean ± 95% "
             "Student-t CI over seeds. Published: the environment's solved level (gymnax "
             "README).")
  point = ["sweep point"] if multi else []
  tables = [Table(f"Policy gradient on {config.env_name}",
                  point + ["algorithm", "seeds", "env steps per seed",
                           "training return (last chunk)", "greedy return", "published"],
                  rows, caption)]
  plots = [Plot("pg_return", f"Policy gradient on {config.env_name}",
                "environment steps per seed", "episode return", plots_series)] if plots_series \
      else []
  return Report(tables, plots)
