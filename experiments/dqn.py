"""DQN on gymnax environments (CartPole-v1, Acrobot-v1) and the grid world, PureJaxRL/CleanRL-style.

The member state holds the online and target parameters (flat vectors), the Adam state, the
replay buffer (`research.rl.replay`, inside the jitted state), `N` environments, the key and
the step counter. One iteration steps the `N` environments once with an ε-greedy policy (ε a
linear function of the step counter in the state), writes the `N` transitions into the buffer
and, once `learning_starts` steps were taken and every `train_interval` steps, takes one Adam
step on a uniformly sampled minibatch of Q-learning TD errors (`research.rl.q_learning`) against
the target network, which is copied (or Polyak-averaged, `tau < 1`) every
`target_update_interval` steps. One chunk is a `lax.scan` over iterations.

Episode ends: a transition stores the pre-reset next observation and `terminated` only, so the
target `r + γ (1 − terminated) max_a q⁻(s', a)` bootstraps through time-limit truncations.

See 'Human-level control through deep reinforcement learning' by V. Mnih et al.
(https://www.nature.com/articles/nature14236), CleanRL's `dqn_jax.py` and PureJaxRL's `dqn.py`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from research import envs, models, rl
from research import rng as prng
from research.runtime import Experiment, require

HPARAMS = ("lr", "gamma", "epsilon_finish", "tau")
LOSSES = ("l2", "huber")


class Transition(NamedTuple):
  obs: jax.Array
  action: jax.Array
  reward: jax.Array
  terminated: jax.Array
  next_obs: jax.Array   # the pre-reset next observation


def build(config) -> envs.Agent:
  """The environment and the Q-network (`agent.apply(theta, obs)` is `q[..., A]`)."""
  return envs.build_agent(config, models.QNetwork, torso=config.torso)


def check_config(config) -> None:
  """Raises ConfigError (one line) for a config DQN cannot run (reads the config only)."""
  for field in ("num_envs", "total_timesteps", "buffer_size", "batch_size", "num_chunks",
                "train_interval", "target_update_interval"):
    require(int(config[field]) >= 1, f"config.{field} must be ≥ 1, got {config[field]}")
  iterations = config.total_timesteps // config.num_envs
  require(iterations >= config.num_chunks and iterations % config.num_chunks == 0,
          f"the number of iterations total_timesteps // num_envs = {config.total_timesteps} // "
          f"{config.num_envs} = {iterations} must be a positive multiple of config.num_chunks "
          f"({config.num_chunks})")
  require(config.num_envs <= config.buffer_size,
          f"config.buffer_size ({config.buffer_size}) must be ≥ num_envs ({config.num_envs})")
  require(config.batch_size <= config.buffer_size,
          f"config.batch_size ({config.batch_size}) must be ≤ buffer_size ({config.buffer_size}) "
          "(else the buffer never holds a minibatch and no gradient step is taken)")
  require(config.train_interval % config.num_envs == 0 or config.num_envs % config.train_interval
          == 0, f"config.train_interval ({config.train_interval}) and num_envs "
          f"({config.num_envs}) must divide one another (steps advance by num_envs)")
  require(config.learning_starts >= 0,
          f"config.learning_starts must be ≥ 0, got {config.learning_starts}")
  require(config.loss in LOSSES, f"config.loss must be one of {LOSSES}, got '{config.loss}'")
  envs.check_agent_config(config)
  require(0.0 <= config.epsilon_start <= 1.0,
          f"config.epsilon_start must be in [0, 1], got {config.epsilon_start}")
  require(config.epsilon_anneal_time > 0, "config.epsilon_anneal_time must be > 0")
  require(config.eval_episodes >= 1, "config.eval_episodes must be ≥ 1")
  # The sweepable hyperparameters (HPARAMS).
  require(config.lr > 0, f"config.lr must be > 0, got {config.lr}")
  require(0.0 <= config.gamma <= 1.0, f"config.gamma must be in [0, 1], got {config.gamma}")
  require(0.0 <= config.epsilon_finish <= 1.0,
          f"config.epsilon_finish must be in [0, 1], got {config.epsilon_finish}")
  require(0.0 < config.tau <= 1.0, f"config.tau must be in (0, 1], got {config.tau}")


def make(config) -> Experiment:
  check_config(config)
  agent = build(config)
  env, env_params = agent.env, agent.env_params
  n_envs = int(config.num_envs)
  iterations = int(config.total_timesteps) // n_envs
  num_chunks = int(config.num_chunks)
  per_chunk = iterations // num_chunks
  batch = int(config.batch_size)
  capacity = int(config.buffer_size)
  learning_starts, train_interval = int(config.learning_starts), int(config.train_interval)
  target_interval = int(config.target_update_interval)
  eps_start, eps_time = float(config.epsilon_start), float(config.epsilon_anneal_time)
  huber = config.loss == "huber"
  eval_episodes = int(config.eval_episodes)
  adam = optax.scale_by_adam()
  example_t = Transition(agent.example_obs, jnp.zeros((), jnp.int32), jnp.zeros(()),
                         jnp.zeros((), bool), agent.example_obs)

  def init(key, hparams):
    rng, bits = prng.draw_bits(prng.rng_from_key(key), {"net": (prng.RNG_WORDS,),
                                                  "env": (n_envs, prng.RNG_WORDS)})
    theta = ravel_pytree(models.init_params(agent.net, prng.env_keys(bits["net"]),
                                            agent.example_obs))[0]
    return {"params": theta, "target": theta, "opt_state": adam.init(theta),
            "buffer": rl.replay_init(example_t, capacity),
            "env": envs.env_init(env, env_params, prng.env_keys(bits["env"])), "rng": rng,
            "steps": jnp.zeros((), jnp.int32), "updates": jnp.zeros((), jnp.int32),
            "hp": {k: jnp.asarray(hparams[k], jnp.float32) for k in HPARAMS}}

  def td_loss(theta, target, mb: Transition, gamma):
    q_tm1 = agent.apply(theta, mb.obs)
    q_t = agent.apply(target, mb.next_obs)
    discount = gamma * (1.0 - mb.terminated.astype(jnp.float32))
    td = jax.vmap(rl.q_learning)(q_tm1, mb.action, mb.reward, discount, q_t)
    loss = optax.huber_loss(td) if huber else 0.5 * jnp.square(td)
    return loss.mean(), q_tm1.mean()

  def iteration(state, _):
    hp = state["hp"]
    rng, bits = prng.draw_bits(state["rng"], {
        "explore": (n_envs,), "step": (n_envs, prng.RNG_WORDS), "reset": (n_envs, prng.RNG_WORDS),
        "sample": (batch,)})
    epsilon = rl.linear_schedule(state["steps"], start=eps_start, end=hp["epsilon_finish"],
                                 duration=eps_time)
    carry = state["env"]
    q = agent.apply(state["params"], carry.obs)
    action = prng.epsilon_greedy_from_uniform(prng.uniform_from_bits(bits["explore"]), q, epsilon)
    reset_obs, reset_state = envs.reset_batch(env, env_params, prng.env_keys(bits["reset"]))
    carry2, res, finished = envs.env_step(env, env_params, carry, action,
                                       prng.env_keys(bits["step"]), reset_obs, reset_state)
    buffer = rl.replay_add(state["buffer"], Transition(carry.obs, action, res.reward,
                                                        res.terminated, res.final_obs))
    steps = state["steps"] + n_envs

    # One gradient step when due (computed always and applied where due: under vmap a cond
    # would run both branches anyway).
    idx = rl.replay_indices(buffer, prng.uniform_from_bits(bits["sample"]))
    mb = rl.replay_gather(buffer, idx)
    (loss, q_mean), grads = jax.value_and_grad(td_loss, has_aux=True)(
        state["params"], state["target"], mb, hp["gamma"])
    updates, opt_state = adam.update(grads, state["opt_state"])
    due = (steps > learning_starts) & (steps % train_interval < n_envs)
    due = due & rl.replay_can_sample(buffer, batch)
    params = jnp.where(due, state["params"] - hp["lr"] * updates, state["params"])
    opt_state = jax.tree.map(lambda new, old: jnp.where(due, new, old), opt_state,
                             state["opt_state"])
    copy = steps % target_interval < n_envs
    target = jnp.where(copy, rl.polyak_update(params, state["target"], tau=hp["tau"]),
                       state["target"])
    done = jnp.logical_or(res.terminated, res.truncated)
    new_state = {**state, "params": params, "target": target, "opt_state": opt_state,
                 "buffer": buffer, "env": carry2, "rng": rng, "steps": steps,
                 "updates": state["updates"] + due.astype(jnp.int32)}
    metrics = {"return_sum": finished.sum(), "episodes": done.sum().astype(jnp.float32),
               "loss": jnp.where(due, loss, 0.0), "trained": due.astype(jnp.float32),
               "q": q_mean, "epsilon": epsilon}
    return new_state, metrics

  def greedy(theta, obs):
    return jnp.argmax(agent.apply(theta, obs), axis=-1).astype(jnp.int32)

  def step(state):
    state, m = jax.lax.scan(iteration, state, None, length=per_chunk)
    count, trained = m["episodes"].sum(), m["trained"].sum()
    metrics = {"episodes": count,
               "return": jnp.where(count > 0, m["return_sum"].sum() / jnp.maximum(count, 1.0),
                                   state["env"].last_return.mean()),
               "loss": m["loss"].sum() / jnp.maximum(trained, 1.0),
               "q": m["q"].mean(), "epsilon": m["epsilon"][-1], "updates": trained}
    return state, metrics

  def finalize(state):
    ret = envs.greedy_evaluation(env, env_params, lambda o: greedy(state["params"], o),
                              state["rng"] ^ 2, eval_episodes, envs.max_episode_steps(env_params))
    return {"eval_return": ret, "params": state["params"], "steps": state["steps"],
            "updates": state["updates"]}

  def report(final, history, info):
    return envs.return_report("DQN", config, final, history, info, per_chunk * n_envs)

  return Experiment(
      init=init, step=step, num_chunks=num_chunks, report=report,
      hparams={k: float(config[k]) for k in HPARAMS},
      updates_per_chunk=per_chunk, env_steps_per_chunk=per_chunk * n_envs,
      finalize=finalize, log_members=True, check_config=check_config)


def optimal_q_gridworld(config) -> np.ndarray:
  """Q* `[25, 5]` of the grid-world task `make_env("GridWorld")` runs (the target terminal)."""
  env, params = envs.make_env(envs.GRIDWORLD)
  mdp = env.tabular_mdp(params, discount=config.gamma)
  terminal = np.asarray(rl.gridworld_terminal_mask())
  eye = np.eye(25, dtype=np.float32)
  transitions = np.where(terminal[:, None, None], eye[:, None, :], np.asarray(mdp.transitions))
  rewards = np.where(terminal[:, None], 0.0, np.asarray(mdp.rewards))
  absorbing = rl.TabularMDP(jnp.asarray(transitions), jnp.asarray(rewards, jnp.float32),
                            mdp.discount)
  v_star = rl.value_iteration(absorbing, tol=1e-7).values
  return np.asarray(rl.q_values(absorbing, v_star))
