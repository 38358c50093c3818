"""Statistics over seeds: mean, standard error, Student-t confidence intervals, IQM, bootstrap.

All functions are host-side NumPy (they summarise finished runs).

The interval of a mean over `n` independent seeds is Student's t (docs/SPEC.md §9):

.. math:: \\bar x \\pm t_{n-1,\\,(1+c)/2}\\; s / \\sqrt{n}, \\qquad s^2 = \\tfrac{1}{n-1}
          \\textstyle\\sum_i (x_i - \\bar x)^2,

which covers the true mean at the stated level `c` for normal data at every `n ≥ 2`. The
percentile bootstrap of the mean does not at the seed counts experiments use (simulated, normal
data: 50 % at n = 2, 74 % at 3, 79 % at 4, 87 % at 8 for a nominal 95 %): it can never be wider
than the range of the values. A paired comparison (sweep points share their seeds' keys) is the
t interval of the per-seed differences: `summarize(a - b)`. One value has no interval (NaN).

`bootstrap_ci` stays for statistics without a closed-form interval (the IQM), with its own fixed
NumPy generator so a table is the same every time it is produced from the same results.

See 'Deep Reinforcement Learning at the Edge of the Statistical Precipice' by Agarwal et al.
(https://arxiv.org/abs/2108.13264) for the IQM and for reporting intervals rather than points.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats as _scipy_stats


class Summary(NamedTuple):
  """Summary of one quantity over `n` independent runs.

  `ci_low`/`ci_high` is the Student-t interval of the mean (NaN for `n = 1`); `stderr` is
  `s / √n` with `ddof = 1` (NaN for `n = 1`).
  """

  mean: float
  stderr: float
  ci_low: float
  ci_high: float
  iqm: float
  n: int


def _check_confidence(confidence: float) -> None:
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _as_values(values) -> np.ndarray:
  values = np.asarray(values, dtype=np.float64).ravel()
  if values.size == 0:
    raise ValueError("values must not be empty")
  return values


def iqm(values) -> float:
  """Interquartile mean: the mean of the middle 50% of the sorted values (25% trimmed each side).

  With n values, the lowest and highest ⌊n/4⌋ are dropped; for n < 4 this is the mean.
  """
  values = np.sort(_as_values(values))
  cut = len(values) // 4
  return float(np.mean(values[cut : len(values) - cut]))


def t_interval(values, *, confidence: float = 0.95) -> tuple[float, float]:
  """Student-t confidence interval of the mean: `mean ± t_{n−1, (1+c)/2} · s/√n`.

  Returns `(low, high)`; `(nan, nan)` for a single value (no interval from one seed).
  """
  _check_confidence(confidence)
  values = _as_values(values)
  n = values.size
  if n == 1:
    return float("nan"), float("nan")
  mean = float(np.mean(values))
  half = float(_scipy_stats.t.ppf(0.5 + confidence / 2, n - 1) * np.std(values, ddof=1)
               / np.sqrt(n))
  return mean - half, mean + half


def bootstrap_ci(values, *, confidence=0.95, num_resamples=2000, statistic=np.mean, seed=0):
  """Percentile bootstrap confidence interval of `statistic` over the values.

  .. math:: [q_{(1-c)/2}, q_{(1+c)/2}] \\text{ of } \\{\\text{stat}(x^{*b})\\}_{b=1}^{B}

  For statistics without a closed-form interval (e.g. `statistic=iqm`-like functions taking an
  `axis`). Not for the mean over a handful of seeds: it under-covers there (use `t_interval`).
  Returns `(low, high)`; a single value gives a zero-width interval at that value.
  """
  _check_confidence(confidence)
  values = _as_values(values)
  if values.size == 1:
    return float(values[0]), float(values[0])
  rng = np.random.default_rng(seed)
  idx = rng.integers(0, values.size, size=(num_resamples, values.size))
  stats = statistic(values[idx], axis=1)
  alpha = (1.0 - confidence) / 2.0
  low, high = np.quantile(stats, [alpha, 1.0 - alpha])
  return float(low), float(high)


def summarize(values, *, confidence=0.95) -> Summary:
  """Mean, standard error (ddof = 1), Student-t CI of the mean and IQM of a 1-D set of values."""
  values = _as_values(values)
  n = values.size
  stderr = float(np.std(values, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
  low, high = t_interval(values, confidence=confidence)
  return Summary(float(np.mean(values)), stderr, low, high, iqm(values), n)


def half_width(summary: Summary) -> float:
  """The larger distance from the mean to an end of the CI (NaN without one)."""
  return max(summary.mean - summary.ci_low, summary.ci_high - summary.mean)


def format_ci(summary: Summary, digits: int = 2) -> str:
  """'mean [low, high]' with a fixed number of decimals; the mean alone for one value (no CI)."""
  f = f"{{:.{digits}f}}"
  if summary.n == 1:
    return f.format(summary.mean)
  return f"{f.format(summary.mean)} [{f.format(summary.ci_low)}, {f.format(summary.ci_high)}]"


def format_pm(summary: Summary, digits: int = 2) -> str:
  """'mean ± half-width of the CI'.

  One value has no CI: the mean alone (not '± 0', which would read as certainty).
  """
  f = f"{{:.{digits}f}}"
  if summary.n == 1:
    return f.format(summary.mean)
  return f"{f.format(summary.mean)} ± {f.format(half_width(summary))}"


def ci_band(values, *, confidence=0.95):
  """Per column of `[n, k]` values (n seeds): the t interval of the mean, `(low[k], high[k])`.

  For a plot's shaded band; `(None, None)` for one seed (no interval, so no band).
  """
  values = np.asarray(values, dtype=np.float64)
  if values.ndim != 2:
    raise ValueError(f"values must be [seeds, k], got shape {values.shape}")
  if values.shape[0] < 2:
    return None, None
  low, high = zip(*(t_interval(values[:, i], confidence=confidence)
                    for i in range(values.shape[1])), strict=True)
  return np.array(low), np.array(high)


def mean_pm(values, digits: int = 1) -> str:
  """A table cell for values over seeds: 'mean ± half-width' of the 95% Student-t interval
  (`format_pm(summarize(values))`; the mean alone for one value)."""
  return format_pm(summarize(np.asarray(values, dtype=np.float64)), digits)


def percent_pm(values, digits: int = 1) -> str:
  """`mean_pm` of the values in percent: 'mean ± half-width' of `100 · values`."""
  return mean_pm(100 * np.asarray(values, dtype=np.float64), digits)

