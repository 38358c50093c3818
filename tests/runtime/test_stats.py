"""Statistics over seeds against closed forms and brute force."""

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


def test_single_value_and_errors():
  s = stats.summarize([3.0])
  assert (s.mean, s.stderr, s.ci_low, s.ci_high) == (3.0, 0.0, 3.0, 3.0)
  with pytest.raises(ValueError, match="empty"):
    stats.summarize([])
  with pytest.raises(ValueError, match="confidence"):
    stats.bootstrap_ci([1.0, 2.0], confidence=1.5)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=40))
def test_iqm_between_min_and_max_and_ci_within_range(values):
  s = stats.summarize(values)
  lo, hi = min(values), max(values)
  assert lo - 1e-9 <= s.iqm <= hi + 1e-9
  assert lo - 1e-9 <= s.ci_low <= s.ci_high <= hi + 1e-9


def test_iqm_brute_force():
  x = np.arange(8.0)  # drop 2 from each side -> mean of 2..5
  assert stats.iqm(x) == pytest.approx(3.5)


def test_formatting():
  s = stats.Summary(1.0, 0.1, 0.8, 1.3, 1.0, 4)
  assert stats.format_ci(s, 1) == "1.0 [0.8, 1.3]"
  assert stats.format_pm(s, 1) == "1.0 ± 0.3"
  one = stats.summarize([2.0])  # no CI from one value: the mean alone, never "± 0"
  assert stats.format_pm(one, 1) == stats.format_ci(one, 1) == "2.0"
