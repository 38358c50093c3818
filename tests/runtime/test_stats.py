"""Statistics over seeds against closed forms, printed t tables, simulation and brute force."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research.runtime import stats


def test_summarize_matches_closed_forms():
  x = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
  s = stats.summarize(x)
  assert s.mean == pytest.approx(4.0)
  assert s.stderr == pytest.approx(np.std(x, ddof=1) / np.sqrt(5))
  assert s.n == 5
  assert s.ci_low < s.mean < s.ci_high
  # IQM of 5 values drops floor(5/4) = 1 from each side.
  assert s.iqm == pytest.approx(3.0)


def test_bootstrap_ci_is_deterministic_and_covers_normal_mean():
  rng = np.random.default_rng(1)
  x = rng.normal(5.0, 2.0, size=400)
  lo, hi = stats.bootstrap_ci(x)
  assert (lo, hi) == stats.bootstrap_ci(x)
  half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))
  assert lo == pytest.approx(x.mean() - half, abs=0.1)
  assert hi == pytest.approx(x.mean() + half, abs=0.1)


def test_single_value_has_no_interval_and_errors():
  s = stats.summarize([3.0])
  assert (s.mean, s.iqm, s.n) == (3.0, 3.0, 1)
  assert np.isnan(s.stderr) and np.isnan(s.ci_low) and np.isnan(s.ci_high)
  with pytest.raises(ValueError, match="empty"):
    stats.summarize([])
  with pytest.raises(ValueError, match="confidence"):
    stats.bootstrap_ci([1.0, 2.0], confidence=1.5)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=40))
def test_iqm_between_min_and_max_and_ci_symmetric_about_the_mean(values):
  s = stats.summarize(values)
  lo, hi = min(values), max(values)
  assert lo - 1e-9 <= s.iqm <= hi + 1e-9
  assert s.ci_low <= s.mean <= s.ci_high
  assert (s.mean - s.ci_low) == pytest.approx(s.ci_high - s.mean, rel=1e-9, abs=1e-9)
  lo_b, hi_b = stats.bootstrap_ci(values)  # the bootstrap never leaves the values' range
  assert lo - 1e-9 <= lo_b <= hi_b <= hi + 1e-9


# Two-sided 95% quantiles t_{df, 0.975} as printed in statistics tables.
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 7: 2.365, 31: 2.040}


@pytest.mark.parametrize("df", sorted(T_TABLE))
def test_t_interval_matches_the_printed_t_table(df):
  x = np.arange(df + 1, dtype=np.float64) ** 1.5
  lo, hi = stats.t_interval(x)
  half = T_TABLE[df] * x.std(ddof=1) / np.sqrt(x.size)
  assert (hi - lo) / 2 == pytest.approx(half, rel=3e-4)  # the table's 3 decimals
  assert (hi + lo) / 2 == pytest.approx(x.mean(), rel=1e-12)


def test_two_seeds_interval_is_the_t_interval_not_the_range():
  # The README's old Breakout cell: two seeds, "26.8 ± 8.4" was their range; t gives (−80, 134).
  s = stats.summarize([18.4, 35.2])
  assert (s.ci_low, s.ci_high) == pytest.approx((26.8 - 106.7, 26.8 + 106.7), abs=0.1)
  assert stats.format_pm(s, 1) == "26.8 ± 106.7"


@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_interval_covers_the_true_mean_95_percent_of_the_time(n):
  """Normal data, 4,000 simulated experiments of n seeds each: coverage within 93–97 %."""
  rng = np.random.default_rng(n)
  mu = 3.0
  hits = 0
  trials = 4000
  for x in rng.normal(mu, 2.0, size=(trials, n)):
    s = stats.summarize(x)
    hits += s.ci_low <= mu <= s.ci_high
  assert 0.93 <= hits / trials <= 0.97, hits / trials


def test_percentile_bootstrap_of_the_mean_undercovers_at_few_seeds():
  """Why summarize does not use it: at n = 3 its '95 %' interval covers ≈ 74 %."""
  rng = np.random.default_rng(0)
  hits = sum(lo <= 0.0 <= hi for lo, hi in
             (stats.bootstrap_ci(x, num_resamples=400) for x in rng.normal(size=(500, 3))))
  assert hits / 500 < 0.85


def test_iqm_brute_force():
  x = np.arange(8.0)  # drop 2 from each side -> mean of 2..5
  assert stats.iqm(x) == pytest.approx(3.5)


def test_formatting():
  s = stats.Summary(1.0, 0.1, 0.8, 1.3, 1.0, 4)
  assert stats.format_ci(s, 1) == "1.0 [0.8, 1.3]"
  assert stats.format_pm(s, 1) == "1.0 ± 0.3"
  one = stats.summarize([2.0])  # no CI from one value: the mean alone, never "± 0"
  assert stats.format_pm(one, 1) == stats.format_ci(one, 1) == "2.0"


def test_ci_band_is_the_t_interval_per_column_and_none_for_one_seed():
  x = np.array([[1.0, 10.0], [2.0, 30.0], [4.0, 20.0]])
  lo, hi = stats.ci_band(x)
  for i in range(2):
    assert (lo[i], hi[i]) == stats.t_interval(x[:, i])
  assert stats.ci_band(x[:1]) == (None, None)
  with pytest.raises(ValueError, match="seeds, k"):
    stats.ci_band(x[0])
  assert stats.percent_pm([0.5, 0.7, 0.6], 1) == stats.format_pm(stats.summarize([50, 70, 60]), 1)


def test_mean_pm_is_the_mean_and_t_half_width_and_the_mean_alone_for_one_seed():
  # [1, 2, 3]: mean 2, s = 1, t_{0.975, 2} = 4.303 (printed tables): half-width 4.303/√3 = 2.48.
  assert stats.mean_pm([1.0, 2.0, 3.0], 2) == "2.00 ± 2.48"
  assert stats.mean_pm(np.array([7.25], np.float32), 1) == "7.2"


def test_series_over_seeds_is_the_column_mean_with_the_t_band():
  from research.runtime import Series

  x = np.array([[1.0, 10.0], [2.0, 30.0], [4.0, 20.0]], np.float32)
  s = Series.over_seeds("a", [0, 1], x)
  np.testing.assert_allclose(s.y, [7 / 3, 20.0])
  lo, hi = stats.ci_band(x)
  np.testing.assert_array_equal(s.lo, lo)
  np.testing.assert_array_equal(s.hi, hi)
  assert Series.over_seeds("a", [0, 1], x[:1]).lo is None
  assert Series.over_seeds("a", [0, 1], x, band=False).hi is None
