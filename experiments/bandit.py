"""ε-greedy sample averages on the 10-armed testbed (Sutton & Barto, 2nd ed., §2.3, Fig. 2.2).

Each member (a seed at one ε) is one bandit problem: arm values `q*(a) ~ N(0, 1)`, rewards
`N(q*(a), 1)`. It pulls `a ~ ε-greedy(Q)` (ties broken at random) and keeps sample averages
`Q(a) ← Q(a) + (r − Q(a)) / N(a)`. The smallest real experiment: the README walks through it.

See 'Reinforcement Learning: An Introduction' (2nd ed.) by R. S. Sutton and A. G. Barto, §2.3
(http://incompleteideas.net/book/the-book-2nd.html).
"""

import jax
import jax.numpy as jnp
import numpy as np

from research import rl
from research.runtime import Experiment, Plot, Report, Series, Table, mean_pm, require

HPARAMS = ("epsilon",)  # sweepable: they reach `init` as arrays, one value per member


def check_config(config) -> None:
  """One line per bad field (the runtime also applies it to every sweep point)."""
  require(config.num_arms >= 2, f"config.num_arms must be ≥ 2, got {config.num_arms}")
  require(0 <= config.epsilon <= 1, f"config.epsilon must be in [0, 1], got {config.epsilon}")
  for field in ("num_chunks", "pulls_per_chunk"):
    require(config[field] >= 1, f"config.{field} must be ≥ 1, got {config[field]}")


def make(config) -> Experiment:
  check_config(config)
  arms, pulls = int(config.num_arms), int(config.pulls_per_chunk)

  def init(key, hparams):  # one member; `hparams` holds its swept values, kept in state["hp"]
    key, problem = jax.random.split(key)
    return {"key": key, "q_star": jax.random.normal(problem, (arms,)), "q": jnp.zeros(arms),
            "n": jnp.zeros(arms), "hp": dict(hparams)}

  def step(state):  # one chunk: `pulls` pulls in one lax.scan
    def pull(s, key):
      k_action, k_reward = jax.random.split(key)
      a = rl.epsilon_greedy(k_action, s["q"], s["hp"]["epsilon"])
      r = s["q_star"][a] + jax.random.normal(k_reward)
      n = s["n"].at[a].add(1.0)
      q = s["q"].at[a].add((r - s["q"][a]) / n[a])
      return {**s, "q": q, "n": n}, (r, a == jnp.argmax(s["q_star"]))

    keys = jax.random.split(state["key"], pulls + 1)
    state, (reward, optimal) = jax.lax.scan(pull, {**state, "key": keys[0]}, keys[1:])
    return state, {"reward": reward.mean(), "optimal": optimal.mean()}

  def report(final, history, info):  # on the host, NumPy; formats only
    members, x = info.members, np.arange(1, config.num_chunks + 1) * pulls
    rows, curves = [], []
    for p in range(len(members.points)):
      reward = members.of_point(history["reward"].T, p)    # [seeds, chunks]
      optimal = members.of_point(history["optimal"].T, p)
      rows.append([members.point_label(p), len(reward), mean_pm(reward[:, -1], 2),
                   mean_pm(100 * optimal[:, -1])])
      curves.append(Series.over_seeds(members.point_label(p), x, reward))
    caption = (f"Mean over the last {pulls} of {x[-1]:,} pulls, ± 95% Student-t CI over seeds "
               "(one bandit problem each). Book, Fig. 2.2 (2000 runs, pull 1000): average "
               "reward ≈ 1.0 (greedy), ≈ 1.3 (ε = 0.01), ≈ 1.4 (ε = 0.1).")
    table = Table("10-armed testbed", ["sweep point", "seeds", "average reward",
                                       "% optimal action"], rows, caption)
    plot = Plot("average_reward", "10-armed testbed", "pulls", "average reward", curves)
    return Report([table], [plot])

  return Experiment(init=init, step=step, num_chunks=int(config.num_chunks), report=report,
                    hparams={k: float(config[k]) for k in HPARAMS}, updates_per_chunk=pulls,
                    check_config=check_config)
