"""The flat member axis: grid × seeds, sweeps, padding."""

import numpy as np
import pytest

from research.runtime import ConfigError, build_members, parse_sweep
from research.runtime.members import pad, padded_size


def test_grid_times_seeds_layout():
  m = build_members(num_seeds=2, defaults={"alpha": 0.1, "n": 3, "eps": 0.5},
                    sweep={"alpha": [0.1, 0.2], "n": [1, 2, 3]})
  assert m.num_members == 12
  assert m.points[0] == {"alpha": 0.1, "n": 1} and m.points[-1] == {"alpha": 0.2, "n": 3}
  np.testing.assert_array_equal(m.point_index, np.repeat(np.arange(6), 2))
  np.testing.assert_array_equal(m.seed_index, np.tile([0, 1], 6))
  assert m.hparams["n"].dtype == np.int32 and m.hparams["alpha"].dtype == np.float32
  np.testing.assert_allclose(m.hparams["alpha"], np.repeat([0.1, 0.1, 0.1, 0.2, 0.2, 0.2], 2))
  np.testing.assert_allclose(m.hparams["eps"], 0.5)   # not swept: the default
  assert m.describe(3) == "member 3 (seed 1, alpha=0.1, n=2)"


def test_no_sweep_and_string_sweep():
  m = build_members(num_seeds=3, defaults={"alpha": 0.1}, sweep="")
  assert m.num_members == 3 and m.point_label(0) == "all"
  assert parse_sweep("alpha=0.05,0.1; n=1,2") == {"alpha": [0.05, 0.1], "n": [1, 2]}


@pytest.mark.parametrize("sweep, match", [
    ({"beta": [1.0]}, "'beta' cannot be swept; sweepable fields: alpha"),
    ("alpha", "not 'field=v1,v2"),
    ("alpha=x", "not a number"),
    ({"alpha": []}, "non-empty"),
])
def test_bad_sweeps(sweep, match):
  with pytest.raises(ConfigError, match=match):
    build_members(num_seeds=1, defaults={"alpha": 0.1}, sweep=sweep)


def test_bad_num_seeds():
  with pytest.raises(ConfigError, match="num_seeds"):
    build_members(num_seeds=0, defaults={}, sweep="")


def test_padding():
  assert padded_size(5, 4) == 8 and padded_size(8, 4) == 8 and padded_size(3, 1) == 3
  np.testing.assert_array_equal(pad(np.array([4, 5, 6]), 5), [4, 5, 6, 4, 4])


def test_of_point_orders_one_points_values_by_seed():
  m = build_members(num_seeds=3, defaults={"a": 0.0}, sweep="a=1.0,2.0")
  values = np.arange(6) * 10          # member m holds 10·m
  np.testing.assert_array_equal(m.of_point(values, 1), [30, 40, 50])
  shuffled = m._replace(seed_index=np.array([2, 0, 1, 2, 0, 1]))
  np.testing.assert_array_equal(shuffled.of_point(values, 0), [10, 20, 0])


def test_sweeps_may_name_the_values_of_an_integer_field():
  arms = ("reinforce", "ppo", "grpo")
  m = build_members(num_seeds=1, defaults={"arm": 0, "lr": 0.1}, sweep="arm=grpo,0;lr=0.2",
                    choices={"arm": arms})
  np.testing.assert_array_equal(m.hparams["arm"], [2, 0])
  with pytest.raises(ConfigError, match=r"config.sweep: arm=grpoo is not one of reinforce, ppo"):
    build_members(num_seeds=1, defaults={"arm": 0}, sweep="arm=grpoo", choices={"arm": arms})
  with pytest.raises(ConfigError, match=r"value 'fast' of 'lr' is not a number"):
    build_members(num_seeds=1, defaults={"lr": 0.1}, sweep="lr=fast")
