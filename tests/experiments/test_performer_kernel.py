"""The Performer kernel-approximation experiment: Lemma 2, the inputs, and the measured MSE."""

import jax
import numpy as np
import pytest

from configs import performer_kernel as pk_config
from experiments import performer_kernel as pk
from research import runtime


def test_lemma2_closed_forms_by_hand():
  r, theta = 0.7, np.deg2rad(100.0)
  x = np.array([r, 0.0])
  y = r * np.array([np.cos(theta), np.sin(theta)])
  sm = np.exp(x @ y)
  plus, minus = np.sum((x + y) ** 2), np.sum((x - y) ** 2)
  # docs/SPEC.md §5, as written there.
  mse_pos = np.exp(plus) * sm**2 * (1 - np.exp(-plus)) / 64
  mse_trig = np.exp(plus) * sm**-2 * (1 - np.exp(-minus)) ** 2 / (2 * 64)
  assert pk.lemma2_mse("positive", r, theta, 64) == pytest.approx(mse_pos, rel=1e-12)
  assert pk.lemma2_mse("trig", r, theta, 64) == pytest.approx(mse_trig, rel=1e-12)
  # Exact estimators: trig at x = y, positive at x = −y.
  assert pk.lemma2_mse("trig", 1.3, 0.0, 16) == 0.0
  assert pk.lemma2_mse("positive", 1.3, np.pi, 16) == pytest.approx(0.0, abs=1e-15)
  with pytest.raises(ValueError, match="kind"):
    pk.lemma2_mse("cosine", 1.0, 0.0, 1)


def test_input_pairs_have_the_asked_norms_and_angles():
  x, y = pk.input_pairs((0.5, 2.0), (0.0, 90.0, 170.0), 6)
  assert x.shape == y.shape == (6, 6)
  np.testing.assert_allclose(np.linalg.norm(x, axis=1), [0.5] * 3 + [2.0] * 3, rtol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(y, axis=1), [0.5] * 3 + [2.0] * 3, rtol=1e-6)
  cos = np.sum(x * y, axis=1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
  np.testing.assert_allclose(np.rad2deg(np.arccos(np.clip(cos, -1, 1))), [0, 90, 170] * 2,
                             atol=1e-3)


def test_config_errors():
  config = pk_config.get_config("smoke")
  config.reference_features = 48
  with pytest.raises(runtime.ConfigError, match="reference_features"):
    pk.make(config)
  config = pk_config.get_config("smoke")
  config.num_features = (16, 24)   # 24 is not a multiple of dim = 16
  config.reference_features = 16
  with pytest.raises(runtime.ConfigError, match="multiple"):
    pk.make(config)
  config = pk_config.get_config("smoke")
  config.mse_vs_m_inputs = ((3.0, 90.0),)
  with pytest.raises(runtime.ConfigError, match="mse_vs_m_inputs"):
    pk.make(config)


def test_iid_mse_agrees_with_lemma2_within_sampling_error():
  config = pk_config.get_config("smoke")
  config.dim = 8
  config.num_features = (8, 32)
  config.reference_features = 32
  config.scales = (0.5,)
  config.angles_deg = (30.0, 120.0)   # ‖x + y‖² ≤ 0.9: light tails, reliable standard errors
  config.mse_vs_m_inputs = ((0.5, 120.0),)
  config.angle_plot_scales = (0.5,)
  config.batches_per_chunk = 4
  config.draws_per_batch = 128
  experiment = pk.make(config)
  members = 3
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i))(np.arange(members))
  state = jax.jit(jax.vmap(lambda k: experiment.init(k, {})))(keys)
  state, metrics = jax.jit(jax.vmap(experiment.step))(state)
  assert set(metrics) == {f"log10_rel_mse_m32/{s}" for s in pk.SHORT}
  stats = pk.error_statistics(jax.device_get(state))
  assert stats["draws"] == members * 4 * 128
  r = np.array([0.5, 0.5])
  theta = np.deg2rad([30.0, 120.0])
  for e, kind in ((pk.POS_IID, "positive"), (pk.TRIG_IID, "trig")):
    expected = pk.lemma2_mse(kind, r[:, None], theta[:, None], np.array([8.0, 32.0]))
    z = (stats["mse"][e] - expected) / stats["stderr"][e]
    assert np.all(np.abs(z) < 4), (kind, z)
    np.testing.assert_allclose(stats["mse"][e], expected, rtol=0.2)
  # Every estimator is unbiased, and orthogonal trig features beat iid ones clearly here.
  assert np.all(np.abs(stats["bias"]) < 4.5 * stats["bias_stderr"])
  assert np.all(stats["mse"][pk.TRIG_ORT] < 0.5 * stats["mse"][pk.TRIG_IID])


def test_smoke_report(tmp_path):
  config = pk_config.get_config("smoke")
  result = runtime.run(pk.make(config), config, tmp_path, progress=False, echo=lambda *_: None)
  names = [t.name for t in result.report.tables]
  assert names[0].startswith("MSE of the estimate of exp(xᵀy) with m = 32")
  assert "The paper's claims and where they hold" in names
  main = result.report.tables[0]
  assert len(main.rows) == 2 * 3   # scales × angles
  assert main.rows[0][9] == "0" and main.rows[0][10] == "exact"   # trig at x = y
  assert {p.name for p in result.report.plots} == {
      "mse_vs_m_0", "mse_vs_angle_r0p25", "trig_over_positive_vs_kernel"}
  assert (tmp_path / "mse_vs_m_0.png").stat().st_size > 1000
