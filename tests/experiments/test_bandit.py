"""bandit: sample averages are the mean reward per arm, ε = 0.1 beats greedy, bad configs."""

import jax
import numpy as np
import pytest

from configs import bandit as bandit_config
from experiments import bandit
from research import runtime
from research.runtime import ConfigError


def _config(**overrides):
  c = bandit_config.get_config()
  c.update(dict(num_seeds=200, sweep="epsilon=0,0.1", num_chunks=5, tensorboard=False))
  c.update(overrides)
  return c


def test_sample_averages_are_the_mean_reward_each_arm_paid():
  """Q(a)·N(a) summed over arms is the total reward received (from the chunk metrics)."""
  experiment = bandit.make(_config(num_chunks=3))
  state = experiment.init(jax.random.key(0), {"epsilon": np.float32(0.3)})
  rewards = []
  for _ in range(3):
    state, metrics = jax.jit(experiment.step)(state)
    rewards.append(float(metrics["reward"]) * 100)
  np.testing.assert_allclose(float((state["q"] * state["n"]).sum()), sum(rewards), rtol=1e-4)
  assert float(state["n"].sum()) == 300.0
  # ε = 0.3 explores: more than one arm was pulled.
  assert int((state["n"] > 0).sum()) > 1


def test_exploration_beats_greedy_as_in_the_book(tmp_path):
  result = runtime.run(bandit.make(_config()), _config(), tmp_path, progress=False,
                       echo=lambda *_: None)
  table = result.report.tables[0]
  assert table.columns == ["sweep point", "seeds", "average reward", "% optimal action"]
  (greedy_label, _, greedy, greedy_opt), (eps_label, _, eps, eps_opt) = table.rows
  assert (greedy_label, eps_label) == ("epsilon=0", "epsilon=0.1")
  mean = lambda cell: float(cell.split(" ± ")[0])
  # Book, Fig. 2.2 after 500 pulls: greedy ≈ 1.0, ε = 0.1 ≈ 1.3; optimal arm ≈ 35 % vs ≈ 70 %.
  assert 0.8 < mean(greedy) < 1.2 < mean(eps) < 1.5
  assert mean(greedy_opt) + 20 < mean(eps_opt)
  assert (tmp_path / "results.csv").exists() and (tmp_path / "average_reward.png").exists()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("num_arms", 1, "config.num_arms must be ≥ 2"),
    ("epsilon", 1.5, r"config.epsilon must be in \[0, 1\]"),
    ("pulls_per_chunk", 0, "config.pulls_per_chunk must be ≥ 1"),
])
def test_bad_configs_raise_one_clear_line(field, value, message):
  with pytest.raises(ConfigError, match=message):
    bandit.make(_config(**{field: value}))
