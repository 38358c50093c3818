"""What a gymnax agent reports: its return against the published one, per seed, and learning
curves (mean over seeds with a 95% Student-t band). Shared by the ppo and dqn experiments; pg
lays out its own table (one row per algorithm) with the same cells.
"""

from __future__ import annotations

import numpy as np

from research.runtime import Plot, Report, Series, Table, mean_pm

# Published returns (gymnax README, PPO checkpoints of gymnax-blines; PureJaxRL for CartPole).
PUBLISHED_RETURN = {"CartPole-v1": 500.0, "Acrobot-v1": -80.0, "Breakout-MinAtar": 28.0}


def published_cell(env_name: str) -> str:
  """The published return of `env_name` as a table cell ('—' where none is known)."""
  published = PUBLISHED_RETURN.get(env_name)
  return "—" if published is None else f"{published:g}"


def learning_curve_plot(name, title, history_return, members, env_steps_per_chunk) -> Plot:
  """Mean return over seeds per chunk with a 95% Student-t CI band, one line per sweep point.

  `history_return` is `[chunks, members]`, or `[chunks, members, episodes]` (averaged over the
  episodes first).
  """
  chunks = history_return.shape[0]
  x = np.arange(1, chunks + 1) * env_steps_per_chunk
  series = []
  for p in range(len(members.points)):
    values = history_return[:, members.point_index == p]
    if values.ndim > 2:
      values = values.reshape(chunks, values.shape[1], -1).mean(axis=2)
    label = (members.point_label(p) if len(members.points) > 1
             else "mean, 95% Student-t CI over seeds")
    series.append(Series.over_seeds(label, x, values.T))
  return Plot(name, title, "environment steps per seed", "episode return", series)


def return_report(algo, config, final, history, info, env_steps_per_chunk) -> Report:
  """`algo`'s results: return vs published, per-seed finals, learning curves (the speed is in
  the runtime's Timings table)."""
  members = info.members
  multi = len(members.points) > 1
  steps_per_seed = env_steps_per_chunk * len(history["return"])
  tail = max(1, len(history["return"]) // 4)
  rows, seed_rows = [], []
  for p in range(len(members.points)):
    sel = members.point_index == p
    last = history["return"][-1, sel]
    tail_mean = history["return"][-tail:, sel].mean(axis=0)
    greedy = np.asarray(final["eval_return"])[sel].mean(axis=1)
    rows.append(([members.point_label(p)] if multi else []) + [
        config.env_name, int(sel.sum()), f"{steps_per_seed:,}", mean_pm(last),
        mean_pm(tail_mean), mean_pm(greedy), published_cell(config.env_name)])
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
  return Report(tables, plots)
