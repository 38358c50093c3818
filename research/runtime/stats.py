"""Statistics over seeds: mean, standard error, bootstrap confidence intervals and the IQM.

All functions are host-side NumPy (they summarise finished runs). The bootstrap uses its own fixed
NumPy generator, so a table is the same every time it is produced from the same results.

See 'Deep Reinforcement Learning at the Edge of the Statistical Precipice' by Agarwal et al.
(https://arxiv.org/abs/2108.13264) for the IQM and for reporting intervals rather than points.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Summary(NamedTuple):
  """Summary of one quantity over `n` independent runs."""

  mean: float
  stderr: float
  ci_low: float
  ci_high: float
  iqm: float
  n: int


def iqm(values) -> float:
  """Interquartile mean: the mean of the middle 50% of the sorted values (25% trimmed each side).

  With n values, the lowest and highest ⌊n/4⌋ are dropped; for n < 4 this is the mean.
  """
  values = np.sort(np.asarray(values, dtype=np.float64).ravel())
  cut = len(values) // 4
  return float(np.mean(values[cut : len(values) - cut]))


def bootstrap_ci(values, *, confidence=0.95, num_resamples=2000, statistic=np.mean, seed=0):
  """Percentile bootstrap confidence interval of `statistic` over the values.

  .. math:: [q_{(1-c)/2}, q_{(1+c)/2}] \\text{ of } \\{\\text{stat}(x^{*b})\\}_{b=1}^{B}

  Returns `(low, high)`; a single value gives a zero-width interval at that value.
  """
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence must be in (0, 1), got {confidence}")
  values = np.asarray(values, dtype=np.float64).ravel()
  if values.size == 0:
    raise ValueError("values must not be empty")
  if values.size == 1:
    return float(values[0]), float(values[0])
  rng = np.random.default_rng(seed)
  idx = rng.integers(0, values.size, size=(num_resamples, values.size))
  stats = statistic(values[idx], axis=1)
  alpha = (1.0 - confidence) / 2.0
  low, high = np.quantile(stats, [alpha, 1.0 - alpha])
  return float(low), float(high)


def summarize(values, *, confidence=0.95) -> Summary:
  """Mean, standard error (ddof = 1), bootstrap CI of the mean and IQM of a 1-D set of values."""
  values = np.asarray(values, dtype=np.float64).ravel()
  if values.size == 0:
    raise ValueError("values must not be empty")
  n = values.size
  stderr = float(np.std(values, ddof=1) / np.sqrt(n)) if n > 1 else 0.0
  low, high = bootstrap_ci(values, confidence=confidence)
  return Summary(float(np.mean(values)), stderr, low, high, iqm(values), n)


def format_ci(summary: Summary, digits: int = 2) -> str:
  """'mean [low, high]' with a fixed number of decimals; the mean alone for one value (no CI)."""
  f = f"{{:.{digits}f}}"
  if summary.n == 1:
    return f.format(summary.mean)
  return f"{f.format(summary.mean)} [{f.format(summary.ci_low)}, {f.format(summary.ci_high)}]"


def format_pm(summary: Summary, digits: int = 2) -> str:
  """'mean ± half-width of the CI' (the CI need not be symmetric; the larger side is shown).

  One value has no CI: the mean alone (not '± 0', which would read as certainty).
  """
  half = max(summary.mean - summary.ci_low, summary.ci_high - summary.mean)
  f = f"{{:.{digits}f}}"
  if summary.n == 1:
    return f.format(summary.mean)
  return f"{f.format(summary.mean)} ± {f.format(half)}"
