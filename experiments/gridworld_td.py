"""TD learning on the book's grid world: TD(0), Sarsa, Expected Sarsa, n-step Sarsa, Q-learning.

Each member (a seed at a sweep point of `alpha`, `epsilon`) runs every method; a chunk is
`episodes / num_chunks` episodes of each control method, and the matching share of TD(0) and
off-policy Q-learning steps (each continuing from the state where the last chunk stopped).

See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 7
(https://github.com/MathFoundationRL/Book-Mathematical-Foundation-of-Reinforcement-Learning).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from research import rl
from research.runtime import Experiment, Plot, Report, Series, Table, format_ci, require, summarize

CONTROL = ("sarsa", "expected_sarsa", "n_step_sarsa", "q_learning")
CONTROL_NAMES = {"sarsa": "Sarsa", "expected_sarsa": "Expected Sarsa",
                 "n_step_sarsa": "n-step Sarsa", "q_learning": "Q-learning (on-policy)"}
OPTIMAL_TOL = 1e-3
HPARAMS = ("alpha", "epsilon")


def absorbing(mdp: rl.TabularMDP, terminal_mask) -> rl.TabularMDP:
  """The episodic task as a continuing MDP: terminal states loop to themselves with reward 0."""
  terminal = np.asarray(terminal_mask)
  eye = np.eye(mdp.transitions.shape[0], dtype=np.asarray(mdp.transitions).dtype)
  transitions = np.where(terminal[:, None, None], eye[:, None, :], np.asarray(mdp.transitions))
  rewards = np.where(terminal[:, None], 0.0, np.asarray(mdp.rewards))
  return rl.TabularMDP(jnp.asarray(transitions), jnp.asarray(rewards, mdp.rewards.dtype),
                       mdp.discount)


def check_config(config) -> None:
  """Raises ConfigError (one line) for a config this experiment cannot run (reads it only)."""
  require(config.num_chunks >= 1, f"config.num_chunks must be ≥ 1, got {config.num_chunks}")
  for field in ("episodes", "td_steps", "offpolicy_steps"):
    value = config[field]
    require(value >= config.num_chunks and value % config.num_chunks == 0,
            f"config.{field} ({value}) must be a positive multiple of config.num_chunks "
            f"({config.num_chunks})")
  require(0.0 <= config.discount < 1.0, f"config.discount must be in [0, 1), got {config.discount}")
  require(config.n_step >= 1, f"config.n_step must be ≥ 1, got {config.n_step}")
  require(config.max_episode_steps >= 1, "config.max_episode_steps must be ≥ 1")
  # The sweepable hyperparameters (HPARAMS).
  require(0.0 < config.alpha <= 1.0, f"config.alpha must be in (0, 1], got {config.alpha}")
  require(0.0 <= config.epsilon <= 1.0, f"config.epsilon must be in [0, 1], got {config.epsilon}")


def make(config) -> Experiment:
  check_config(config)
  chunks = int(config.num_chunks)
  episodes = int(config.episodes) // chunks
  td_steps, off_steps = int(config.td_steps) // chunks, int(config.offpolicy_steps) // chunks
  max_steps, n = int(config.max_episode_steps), int(config.n_step)

  # The continuing task (default rewards) for TD(0) and off-policy Q-learning.
  grid = rl.gridworld(discount=config.discount)
  uniform = jnp.full((25, 5), 0.2)
  v_uniform = rl.policy_evaluation(grid, uniform)
  v_star = rl.value_iteration(grid, tol=1e-7).values
  # The book's episodic control task.
  task = rl.gridworld(r_target=0.0, r_forbidden=-10.0, r_boundary=-10.0, r_other=-1.0,
                      discount=config.discount)
  terminal = rl.gridworld_terminal_mask()
  task_absorbing = absorbing(task, terminal)
  v_star_task = rl.value_iteration(task_absorbing, tol=1e-7).values
  start = rl.START_STATE


  def control_episode(name, key, q, alpha, epsilon):
    kwargs = dict(alpha=alpha, epsilon=epsilon, max_steps=max_steps)
    if name == "sarsa":
      return rl.sarsa_episode(key, q, task, start, terminal, **kwargs)
    if name == "expected_sarsa":
      return rl.expected_sarsa_episode(key, q, task, start, terminal, **kwargs)
    if name == "n_step_sarsa":
      return rl.n_step_sarsa_episode(key, q, task, start, terminal, n=n, **kwargs)
    return rl.q_learning_episode(key, q, task, start, terminal, **kwargs)

  def init(key, hparams):
    q0 = jnp.zeros((25, 5))
    return {"key": key, "hp": {k: hparams[k] for k in HPARAMS},
            "v_td": jnp.zeros(25), "s_td": jnp.asarray(start, jnp.int32),
            "q_off": q0, "s_off": jnp.asarray(start, jnp.int32),
            "q": {name: q0 for name in CONTROL}}

  def step(state):
    key, k_td, k_off, k_control = jax.random.split(state["key"], 4)
    alpha, epsilon = state["hp"]["alpha"], state["hp"]["epsilon"]

    def episode(qs, key):
      """One episode of every control method, then one batched check of their greedy policies."""
      keys = jax.random.split(key, len(CONTROL))
      results = [control_episode(name, k, qs[name], alpha, epsilon)
                 for name, k in zip(CONTROL, keys, strict=True)]
      qs = {name: q for name, (q, _) in zip(CONTROL, results, strict=True)}
      stacked = jnp.stack([qs[name] for name in CONTROL])
      v_greedy = jax.vmap(lambda q: rl.policy_evaluation(task_absorbing, rl.greedy_policy(q)))(
          stacked)
      optimal = jnp.abs(v_greedy[:, start] - v_star_task[start]) < OPTIMAL_TOL
      reached = jax.vmap(lambda q: rl.greedy_path(q, task, start, terminal,
                                                  max_steps=25)[1])(stacked)
      lengths = jnp.stack([stats.length for _, stats in results])
      returns = jnp.stack([stats.return_ for _, stats in results])
      return qs, (lengths, returns, optimal.astype(jnp.float32), reached.astype(jnp.float32))

    new_q, (lengths, returns, optimal, reached) = jax.lax.scan(
        episode, state["q"], jax.random.split(k_control, episodes))
    metrics = {}
    for i, name in enumerate(CONTROL):
      metrics[f"{name}/length"] = lengths[:, i]
      metrics[f"{name}/return"] = returns[:, i]
      metrics[f"{name}/optimal"] = optimal[:, i]
      metrics[f"{name}/reached"] = reached[:, i]
      metrics[f"{name}/start_error"] = jnp.abs(new_q[name][start].max() - v_star_task[start])
    # TD(0) on the continuing task, continuing from where the last chunk stopped.
    td_traj = rl.sample_trajectory(k_td, grid, uniform, state["s_td"], num_steps=td_steps)
    v_td = rl.td0_from_trajectory(state["v_td"], td_traj, alpha=alpha)
    # Off-policy Q-learning from the uniform behaviour policy.
    off_traj = rl.sample_trajectory(k_off, grid, uniform, state["s_off"], num_steps=off_steps)
    q_off = rl.q_learning_from_trajectory(state["q_off"], off_traj, alpha=alpha)
    metrics["td0/error"] = jnp.max(jnp.abs(v_td - v_uniform))
    metrics["td0/rmse"] = jnp.sqrt(jnp.mean((v_td - v_uniform) ** 2))
    metrics["offpolicy/error"] = jnp.max(jnp.abs(q_off.max(axis=1) - v_star))
    v_off_greedy = rl.policy_evaluation(grid, rl.greedy_policy(q_off))
    metrics["offpolicy/optimal"] = jnp.all(
        jnp.abs(v_off_greedy - v_star) < OPTIMAL_TOL).astype(jnp.float32)
    new_state = {**state, "key": key, "v_td": v_td, "s_td": td_traj.next_states[-1],
                 "q_off": q_off, "s_off": off_traj.next_states[-1], "q": new_q}
    return new_state, metrics

  def report(final, history, info):
    del final
    members = info.members
    multi = len(members.points) > 1
    control_rows, eval_rows, plots = [], [], []
    for p in range(len(members.points)):
      sel = members.point_index == p
      prefix = [members.point_label(p)] if multi else []
      for name in CONTROL:
        per_episode = {k: _per_episode(history[f"{name}/{k}"], sel)
                       for k in ("optimal", "reached", "return")}
        tail = max(1, per_episode["return"].shape[1] // 10)
        cells = []
        for k in ("reached", "optimal"):
          until = episodes_until_stable(per_episode[k])
          ok = np.isfinite(until)
          cells.append((format_ci(summarize(until[ok]), 0) if ok.any() else "never")
                       + f" ({int(ok.sum())}/{int(sel.sum())})")
        control_rows.append(prefix + [
            CONTROL_NAMES[name] + (f" (n={n})" if name == "n_step_sarsa" else ""), *cells,
            format_ci(summarize(per_episode["optimal"][:, -tail:].mean(axis=1)), 2),
            format_ci(summarize(per_episode["return"][:, -tail:].mean(axis=1)), 1),
            format_ci(summarize(history[f"{name}/start_error"][-1, sel]), 2)])
      for label, key in [("TD(0), uniform policy: ‖v − v_π‖∞", "td0/error"),
                         ("TD(0), uniform policy: RMSE(v − v_π)", "td0/rmse"),
                         ("Off-policy Q-learning: ‖max_a q − v*‖∞", "offpolicy/error"),
                         ("Off-policy Q-learning: greedy policy optimal", "offpolicy/optimal")]:
        eval_rows.append(prefix + [label, format_ci(summarize(history[key][-1, sel]), 3)])
    point = ["sweep point"] if multi else []
    tables = [
        Table("TD control on the grid world (Zhao ch. 7)",
              point + ["method", "episodes until the greedy path reaches the target (seeds)",
                       "episodes until it is optimal (seeds)",
                       "optimal in the last 10% of episodes", "return, last 10% of episodes",
                       "|max_a q(s₀,a) − v*(s₀)| at the end"], control_rows,
              f"{members.num_seeds} seeds per point, {config.episodes} episodes, "
              f"α = {config.alpha}, ε = {config.epsilon}, γ = {config.discount}, start (1,1), "
              "r_other = −1, r_forbidden = r_boundary = −10, r_target = 0, episode ends at the "
              "target. 'Until' is the episode after which the greedy path from the start "
              "always reaches the target / stays optimal (its exact value equals v*(s₀)), "
              "mean [95% Student-t CI] over the seeds where that happens (count in brackets)."),
        Table("TD evaluation and off-policy Q-learning (Zhao ch. 7)",
              point + ["quantity", "final value (mean [95% Student-t CI])"], eval_rows,
              f"Default rewards, γ = {config.discount}, α = {config.alpha}; TD(0) over "
              f"{config.td_steps:,} steps and off-policy Q-learning over "
              f"{config.offpolicy_steps:,} steps of a uniform behaviour policy."),
    ]
    if not multi:
      episode = np.arange(1, int(config.episodes) + 1)
      series = []
      for name in CONTROL:
        ret = _per_episode(history[f"{name}/return"], slice(None))
        lo, hi = np.quantile(ret, [0.25, 0.75], axis=0)
        series.append(Series(CONTROL_NAMES[name], episode, ret.mean(axis=0), lo, hi))
      plots.append(Plot("control_returns", "Episode return (mean, IQR over seeds)", "episode",
                        "return", series))
      steps = np.arange(1, chunks + 1)
      plots.append(Plot("evaluation_errors", "TD(0) and off-policy Q-learning error",
                        "steps", "‖·‖∞ error (mean over seeds)",
                        [Series("TD(0): ‖v − v_π‖∞", steps * td_steps,
                                history["td0/error"].mean(axis=1)),
                         Series("off-policy Q-learning: ‖max q − v*‖∞", steps * off_steps,
                                history["offpolicy/error"].mean(axis=1))], logy=True))
    return Report(tables, plots)

  return Experiment(
      init=init, step=step, num_chunks=chunks, report=report,
      hparams={k: float(config[k]) for k in HPARAMS},
      updates_per_chunk=episodes * len(CONTROL) + td_steps + off_steps,
      check_config=check_config)


def episodes_until_stable(optimal: np.ndarray) -> np.ndarray:
  """Per row: the 1-based episode after which every later entry is true (NaN if the last isn't).

  >>> episodes_until_stable(np.array([[0, 1, 0, 1, 1], [1, 1, 1, 1, 0]]))
  array([ 4., nan])
  """
  optimal = np.asarray(optimal, bool)
  num = optimal.shape[1]
  last_false = np.where(~optimal, np.arange(num), -1).max(axis=1)
  until = (last_false + 2).astype(float)
  until[~optimal[:, -1]] = np.nan
  return until


def _per_episode(history, selected):
  """`[chunks, members, episodes]` history -> `[selected members, all episodes]`."""
  values = history[:, selected]
  return values.transpose(1, 0, 2).reshape(values.shape[1], -1)
