"""Optimal values of the book's grid world and the convergence of VI, PI and truncated PI.

One chunk: every member solves the grid (deterministic, identical across members) and one random
MDP drawn from its key; the report shows the grid tables (against the book's printed Fig. 3.4) and
the iteration counts with 95% CIs over the random MDPs.

See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 3-4
(https://github.com/MathFoundationRL/Book-Mathematical-Foundation-of-Reinforcement-Learning).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from research import rl
from research.runtime import Experiment, Plot, Report, Series, Table, require, summarize

# Zhao, Fig. 3.4: γ = 0.9, r_boundary = r_forbidden = −1, r_target = 1 (rows top to bottom).
BOOK_OPTIMAL_VALUES = np.array([
    [5.8, 5.6, 6.2, 6.5, 5.8],
    [6.5, 7.2, 8.0, 7.2, 6.5],
    [7.2, 8.0, 10.0, 8.0, 7.2],
    [8.0, 10.0, 10.0, 10.0, 8.0],
    [7.2, 9.0, 10.0, 9.0, 8.1],
])


def check_config(config) -> None:
  """Raises ConfigError (one line) for a config this experiment cannot run (reads it only)."""
  require(len(config.discounts) >= 1 and len(config.forbidden_rewards) >= 1,
          "config.discounts and config.forbidden_rewards must each list at least one value")
  require(all(0.0 <= g < 1.0 for g in config.discounts),
          f"config.discounts: each must be in [0, 1), got {tuple(config.discounts)}")
  require(0.0 <= config.convergence_discount < 1.0,
          "config.convergence_discount must be in [0, 1)")
  require(0.0 <= config.random_discount < 1.0, "config.random_discount must be in [0, 1)")
  require(all(isinstance(j, int) and j >= 1 for j in config.eval_sweeps),
          f"config.eval_sweeps: each must be an integer ≥ 1, got {tuple(config.eval_sweeps)}")
  require(config.tol > 0, f"config.tol must be > 0, got {config.tol}")
  require(config.trace_iterations >= 1,
          f"config.trace_iterations must be ≥ 1, got {config.trace_iterations}")
  require(config.random_states >= 1 and config.random_actions >= 1,
          "config.random_states and config.random_actions must be ≥ 1")


def make(config) -> Experiment:
  check_config(config)
  settings = [(g, r) for g in config.discounts for r in config.forbidden_rewards]
  sweeps = tuple(int(j) for j in config.eval_sweeps)
  tol, num_trace = float(config.tol), int(config.trace_iterations)

  def solve_all(mdp):
    """Iterations of VI, TPI(j) for each j, PI; the optimal values and the error traces."""
    vi = rl.value_iteration(mdp, tol=tol)
    pi = rl.policy_iteration(mdp)
    tpi = [rl.truncated_policy_iteration(mdp, eval_sweeps=j, tol=tol) for j in sweeps]
    v_star = rl.policy_evaluation(mdp, pi.policy)
    results = [vi, *tpi, pi]
    iterations = jnp.stack([r.iterations for r in results])
    errors = jnp.stack([jnp.max(jnp.abs(r.values - v_star)) for r in results])
    traces = jnp.stack(
        [rl.value_iteration_trace(mdp, v_star, num_iterations=num_trace)]
        + [rl.truncated_policy_iteration_trace(mdp, v_star, eval_sweeps=j,
                                               num_iterations=num_trace) for j in sweeps]
        + [rl.policy_iteration_trace(mdp, v_star, num_iterations=num_trace)])
    return iterations, errors, traces

  def init(key, hparams):
    del hparams
    return {"key": key}

  def step(state):
    tables = [rl.value_iteration(rl.gridworld(discount=g, r_forbidden=r), tol=tol * 1e-2)
              for g, r in settings]
    grid = rl.gridworld(discount=config.convergence_discount,
                        r_forbidden=config.convergence_forbidden_reward)
    grid_iterations, grid_errors, grid_traces = solve_all(grid)
    random = rl.random_mdp(state["key"], config.random_states, config.random_actions,
                           discount=config.random_discount)
    random_iterations, random_errors, random_traces = solve_all(random)
    out = {
        "key": state["key"],
        "values": jnp.stack([t.values for t in tables]),
        "policies": jnp.stack([t.policy for t in tables]),
        "grid_iterations": grid_iterations, "grid_errors": grid_errors,
        "grid_traces": grid_traces, "random_iterations": random_iterations,
        "random_errors": random_errors, "random_traces": random_traces,
    }
    return out, {"max_error": jnp.maximum(grid_errors.max(), random_errors.max())}

  def report(final, history, info):
    del history, info
    names = ["value iteration"] + [f"truncated PI (j={j})" for j in sweeps] + ["policy iteration"]
    tables = []
    for i, (g, r) in enumerate(settings):
      values = final["values"][0, i].reshape(5, 5)
      arrows = rl.policy_to_arrows(final["policies"][0, i])
      caption = f"γ = {g}, r_forbidden = {r}, r_boundary = −1, r_target = 1."
      if (g, r) == (0.9, -1.0):
        caption += (" Book (Fig. 3.4): max |v − book| = "
                    f"{np.max(np.abs(values - BOOK_OPTIMAL_VALUES)):.3f}.")
      rows = [[f"{row + 1}"] + [f"{values[row, c]:.1f} {arrows[row, c]}" for c in range(5)]
              for row in range(5)]
      tables.append(Table(f"Optimal values and policy, γ={g}, r_forbidden={r}",
                          ["row", "c1", "c2", "c3", "c4", "c5"], rows, caption))
    rows = []
    for a, name in enumerate(names):
      s = summarize(final["random_iterations"][:, a])
      rows.append([name, int(final["grid_iterations"][0, a]),
                   f"{final['grid_errors'][0, a]:.1e}",
                   f"{s.mean:.1f} [{s.ci_low:.1f}, {s.ci_high:.1f}]",
                   f"{final['random_errors'][:, a].max():.1e}"])
    iterations = Table(
        "Iterations to converge", ["algorithm", "grid iterations", "grid ‖v − v*‖∞",
                                   "random MDPs iterations (mean [95% Student-t CI])",
                                   "random MDPs max ‖v − v*‖∞"], rows,
        f"Grid: γ = {config.convergence_discount}, r_forbidden = "
        f"{config.convergence_forbidden_reward}; random MDPs: {config.random_states} states, "
        f"{config.random_actions} actions, γ = {config.random_discount}, "
        f"{len(final['random_iterations'])} seeds; tol = {tol}. v* is the exact value of PI's "
        "policy.")
    k = np.arange(num_trace + 1)
    floor = 1e-7
    plots = [
        Plot("grid_convergence", "Grid world: ‖v_k − v*‖∞", "iteration k", "‖v_k − v*‖∞",
             [Series(n, k, np.maximum(final["grid_traces"][0, a], floor))
              for a, n in enumerate(names)], logy=True),
        Plot("random_mdp_convergence", "Random MDPs: ‖v_k − v*‖∞ (median, IQR)", "iteration k",
             "‖v_k − v*‖∞",
             [Series(n, k, np.maximum(np.median(final["random_traces"][:, a], 0), floor),
                     np.maximum(np.quantile(final["random_traces"][:, a], 0.25, 0), floor),
                     np.maximum(np.quantile(final["random_traces"][:, a], 0.75, 0), floor))
              for a, n in enumerate(names)], logy=True),
    ]
    return Report([iterations, *tables], plots)

  return Experiment(init=init, step=step, num_chunks=1, report=report, updates_per_chunk=1,
                    check_config=check_config)


del jax  # imported for type context only
