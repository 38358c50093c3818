"""The grid-world experiments: the book's table reproduced, helpers against hand examples."""

import numpy as np
import pytest

from configs import gridworld_dp as dp_config
from configs import gridworld_td as td_config
from experiments import gridworld_dp, gridworld_td
from research import rl, runtime


def test_episodes_until_stable():
  optimal = np.array([[0, 1, 0, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
  np.testing.assert_array_equal(gridworld_td.episodes_until_stable(optimal), [4.0, np.nan, 1.0])


def test_absorbing_task_has_the_shortest_safe_path_value():
  task = rl.gridworld(r_target=0.0, r_forbidden=-10.0, r_boundary=-10.0, r_other=-1.0)
  mdp = gridworld_td.absorbing(task, rl.gridworld_terminal_mask())
  v = np.asarray(rl.value_iteration(mdp, tol=1e-8).values)
  assert v[rl.TARGET_STATE] == pytest.approx(0.0, abs=1e-6)
  # The target (4,3) is entered safely only from (5,3): the shortest safe path from (1,1) goes
  # right along the top, down the right side and left along the bottom, 11 steps, the last one
  # into the target rewarded 0: v(s₀) = −Σ_{k<10} γ^k.
  assert v[rl.START_STATE] == pytest.approx(-sum(0.9 ** k for k in range(10)), abs=1e-4)


def test_dp_experiment_reproduces_the_book(tmp_path):
  config = dp_config.get_config("smoke")
  result = runtime.run(gridworld_dp.make(config), config, tmp_path, progress=False,
                       echo=lambda *_: None)
  tables = {t.name: t for t in result.report.tables}
  book = tables["Optimal values and policy, γ=0.9, r_forbidden=-1.0"]
  values = np.array([[float(cell.split()[0]) for cell in row[1:]] for row in book.rows])
  np.testing.assert_allclose(values, gridworld_dp.BOOK_OPTIMAL_VALUES, atol=0.051)
  gamma0 = tables["Optimal values and policy, γ=0.0, r_forbidden=-1.0"]
  assert {cell.split()[0] for row in gamma0.rows for cell in row[1:]} <= {"0.0", "1.0"}
  iterations = {row[0]: row[1] for row in tables["Iterations to converge"].rows}
  assert iterations["policy iteration"] <= iterations["truncated PI (j=5)"]
  assert iterations["truncated PI (j=5)"] <= iterations["value iteration"]


def test_td_experiment_learns(tmp_path):
  config = td_config.get_config()
  config.num_seeds, config.num_chunks = 4, 5
  config.td_steps = config.offpolicy_steps = 50_000
  config.episodes = 300
  result = runtime.run(gridworld_td.make(config), config, tmp_path, progress=False,
                       echo=lambda *_: None)
  control, evaluation, timings = result.report.tables
  assert timings.timed and timings.name == "Timings"
  rows = {row[0]: row for row in control.rows}
  assert rows["Q-learning (on-policy)"][1].endswith("(4/4)")   # greedy path reaches the target
  values = {row[0]: float(row[1].split()[0]) for row in evaluation.rows}
  assert values["Off-policy Q-learning: greedy policy optimal"] == 1.0
  assert values["Off-policy Q-learning: ‖max_a q − v*‖∞"] < 0.3   # 50k of the book's 100k steps
  assert values["TD(0), uniform policy: ‖v − v_π‖∞"] < 1.0
