"""The attention scaling benchmark: its helpers, the timed functions, and a tiny run's report."""

import types

import jax
import numpy as np
import pytest

from configs import attention_scaling as as_config
from experiments import attention_scaling as scaling
from research import runtime


def test_crossover_length_interpolates_on_log_axes():
  lengths = [100, 200, 400, 800]
  baseline = [1.0, 4.0, 16.0, 64.0]            # ∝ T²
  other = [4.0, 8.0, 16.0 * 1.0001, 32.0]      # ∝ T, equal to the baseline near T = 400
  assert scaling.crossover_length(lengths, baseline, other) == pytest.approx(400, rel=1e-3)
  # Crossing between two grid points: ratio 2 at 200, 1/2 at 400 -> geometric midpoint.
  assert scaling.crossover_length([200, 400], [1.0, 4.0], [2.0, 2.0]) == pytest.approx(
      200 * np.sqrt(2), rel=1e-9)
  # Below at every length: the shortest length; never below: inf.
  assert scaling.crossover_length([200, 400], [4.0, 16.0], [2.0, 4.0]) == 200
  assert scaling.crossover_length(lengths, baseline, [x * 100 for x in baseline]) == np.inf
  # Below only at the shortest length, above after: not a crossover.
  assert scaling.crossover_length([100, 200], [1.0, 1.0], [0.5, 2.0]) == np.inf


def test_loglog_slope_and_peak_bytes():
  t = np.array([256, 1024, 4096])
  assert scaling.loglog_slope(t, 3 * t**2) == pytest.approx(2.0)
  assert scaling.loglog_slope(t, 5 * t) == pytest.approx(1.0)
  assert np.isnan(scaling.loglog_slope([256], [1.0]))
  stats = types.SimpleNamespace(argument_size_in_bytes=100, output_size_in_bytes=40,
                                temp_size_in_bytes=1000, alias_size_in_bytes=30)
  assert scaling.peak_bytes(stats) == 1110


def test_timed_functions_compute_attention_and_its_gradient():
  key = jax.random.key(0)
  q, k, v, g = jax.random.normal(key, (4, 1, 32, 2, 8))
  w = np.zeros((16, 8), np.float32)   # the projection argument (unused by softmax)
  for causal in (True,):   # the chunked, masked paths (non-causal: the tiny run below)
    dpa = scaling.attention_fn("dot_product_attention", causal=causal, chunk_size=8,
                               block_size=8, performer_kind="positive")
    ours = scaling.attention_fn("softmax", causal=causal, chunk_size=8, block_size=8,
                                performer_kind="positive")
    value_dpa, grads_dpa = jax.jit(scaling.forward_backward(dpa))(q, k, v, g, w)
    value, grads = jax.jit(scaling.forward_backward(ours))(q, k, v, g, w)
    np.testing.assert_allclose(value, value_dpa, rtol=1e-5)
    for a, b in zip(grads, grads_dpa, strict=True):
      np.testing.assert_allclose(a, b, atol=1e-5)
  with pytest.raises(ValueError, match="unknown variant"):
    scaling.attention_fn("flash", causal=False, chunk_size=8, block_size=8,
                         performer_kind="positive")


def test_config_errors():
  config = as_config.get_config("smoke")
  config.variants = ("linear",)
  with pytest.raises(runtime.ConfigError, match="baseline"):
    scaling.make(config)
  config = as_config.get_config("smoke")
  config.variants = ("dot_product_attention", "flash")
  with pytest.raises(runtime.ConfigError, match="unknown"):
    scaling.make(config)
  config = as_config.get_config("smoke")
  config.seq_lens = (128, 64)
  with pytest.raises(runtime.ConfigError, match="increasing"):
    scaling.make(config)


def test_tiny_run_reports_targets_memory_and_extrapolation(tmp_path):
  config = as_config.get_config("smoke")
  config.seq_lens = (32, 64)
  config.variants = ("dot_product_attention", "linear")
  config.causal = (False, True)
  config.softmax_max_len = 32
  config.target_len = 64
  config.check_len = 32
  result = runtime.run(scaling.make(config), config, tmp_path, progress=False,
                       echo=lambda *_: None)
  tables = {t.name: t for t in result.report.tables}
  targets = result.report.tables[0]
  assert targets.name == "Speed and memory targets"
  assert [row[0] for row in targets.rows[:2]] == [
      "causal linear_attention fwd+bwd at T = 64",
      "non-causal linear_attention fwd+bwd at T = 64"]
  assert "extrapolated ∝ T² from T = 32" in targets.caption
  assert targets.rows[-1][0].startswith("matmul rate")
  times = tables["Time (s) vs T"]
  assert times.rows[0][:2] == ["jax.nn.dot_product_attention", "non-causal"]
  assert times.rows[0][3].startswith("~") and not times.rows[0][2].startswith("~")
  assert not any(cell.startswith("~") for cell in times.rows[1][2:])   # linear: all run
  memory = tables["Peak memory (MiB) vs T"]
  for row in memory.rows:
    assert all(float(cell) > 0 for cell in row[2:])
  # Softmax memory grows faster than linear attention's (∝ T² vs ∝ T).
  softmax_growth = float(memory.rows[0][3]) / float(memory.rows[0][2])
  linear_growth = float(memory.rows[1][3]) / float(memory.rows[1][2])
  assert softmax_growth > linear_growth
  checks = tables["Correctness of what is timed (on device, T = 32)"]
  assert all(float(row[1]) < 1e-4 for row in checks.rows)
  assert {p.name for p in result.report.plots} == {"time_noncausal", "memory_noncausal",
                                                   "time_causal", "memory_causal"}
  assert (tmp_path / "time_causal.png").stat().st_size > 1000
