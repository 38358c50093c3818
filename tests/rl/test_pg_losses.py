"""Policy-gradient losses and truncation bootstrapping: hand-computed values, gradient signs,
jit and vmap."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import rl

LOGITS = np.array([[0.0, 0.0], [np.log(3.0), 0.0]], np.float32)   # π = [.5, .5], [.75, .25]
ACTIONS = np.array([0, 1], np.int32)


def test_policy_gradient_loss_hand_computed():
  adv = np.array([1.0, -2.0], np.float32)
  w = np.array([1.0, 0.5], np.float32)
  # −mean(w · log π(a) · A) = −(log .5 · 1 · 1 + log .25 · (−2) · .5) / 2
  expected = -(np.log(0.5) + np.log(0.25) * -2.0 * 0.5) / 2
  np.testing.assert_allclose(rl.policy_gradient_loss(LOGITS, ACTIONS, adv, w), expected,
                             rtol=1e-6)
  np.testing.assert_allclose(jax.jit(rl.policy_gradient_loss)(LOGITS, ACTIONS, adv, w), expected,
                             rtol=1e-6)


def test_policy_gradient_direction_and_stop_gradient():
  """A positive advantage raises log π(a): the loss gradient on the taken logit is negative."""
  adv, w = np.array([1.0, 1.0], np.float32), np.ones(2, np.float32)
  g = jax.grad(rl.policy_gradient_loss)(jnp.asarray(LOGITS), ACTIONS, adv, w)
  assert g[0, 0] < 0 < g[0, 1] and g[1, 1] < 0 < g[1, 0]
  g_adv = jax.grad(rl.policy_gradient_loss, argnums=2)(LOGITS, ACTIONS, jnp.asarray(adv), w)
  np.testing.assert_array_equal(g_adv, 0.0)
  g_adv = jax.grad(lambda a: rl.policy_gradient_loss(LOGITS, ACTIONS, a, w,
                                                     use_stop_gradient=False))(jnp.asarray(adv))
  np.testing.assert_allclose(g_adv, -np.log([0.5, 0.25]) / 2, rtol=1e-6)


def test_entropy_loss_hand_computed():
  h = [np.log(2.0), -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))]
  np.testing.assert_allclose(rl.entropy_loss(LOGITS, np.ones(2, np.float32)), -np.mean(h),
                             rtol=1e-6)
  np.testing.assert_allclose(rl.categorical_entropy(LOGITS), h, rtol=1e-6)
  np.testing.assert_allclose(rl.categorical_log_prob(LOGITS, ACTIONS), np.log([0.5, 0.25]),
                             rtol=1e-6)


def test_clipped_surrogate_values_and_gradients():
  ratios = jnp.array([0.5, 1.0, 1.5, 0.7, 1.1], jnp.float32)
  adv = jnp.array([1.0, -1.0, 2.0, -1.0, 1.0], jnp.float32)
  # min(ρA, clip(ρ, .8, 1.2) A): .5, −1, 2.4, −.8, 1.1
  np.testing.assert_allclose(rl.clipped_surrogate_pg_loss(ratios, adv, 0.2),
                             -(0.5 - 1.0 + 2.4 - 0.8 + 1.1) / 5, rtol=1e-6)
  g = jax.grad(rl.clipped_surrogate_pg_loss)(ratios, adv, 0.2)
  # ρ = 1.5 with A > 0 and ρ = 0.7 with A < 0 lie outside the clip range on the side the
  # advantage favours: no gradient. Inside (or on the pessimistic side): −A / T.
  np.testing.assert_allclose(g, [-1 / 5, 1 / 5, 0.0, 0.0, -1 / 5], atol=1e-7)
  # Through log-probabilities: the clipped samples do not move the policy.
  logp_old = jnp.zeros(5)
  g_logp = jax.grad(lambda lp: rl.clipped_surrogate_pg_loss(jnp.exp(lp - logp_old), adv, 0.2))(
      jnp.log(ratios))
  assert g_logp[2] == 0.0 and g_logp[3] == 0.0 and g_logp[0] < 0 < g_logp[1]


def test_clipped_value_loss_values_and_gradients():
  v = jnp.array([1.0, 2.0, 0.1], jnp.float32)
  v_old = jnp.array([0.0, 2.0, 0.0], jnp.float32)
  ret = jnp.array([2.0, 0.0, 1.0], jnp.float32)
  # rows: max(1, (0.2 − 2)² = 3.24) = 3.24; max(4, 4) = 4; max(.81, .81) = .81
  np.testing.assert_allclose(rl.clipped_value_loss(v, v_old, ret, epsilon=0.2),
                             0.5 * (3.24 + 4.0 + 0.81) / 3, rtol=1e-6)
  g = jax.grad(lambda x: rl.clipped_value_loss(x, v_old, ret, epsilon=0.2))(v)
  # Row 0: the clipped branch is larger and constant in v: no gradient (the value may not move
  # further than ε from v_old). Rows 1-2: ½ · 2 (v − G) / T.
  np.testing.assert_allclose(g, [0.0, 2.0 / 3, -0.9 / 3], atol=1e-6)
  np.testing.assert_allclose(rl.value_loss(v, ret), 0.5 * np.mean((v - ret) ** 2), rtol=1e-6)


def test_bootstrap_truncations_hand_computed():
  r = jnp.array([1.0, 1.0, 1.0, 1.0], jnp.float32)
  term = jnp.array([False, True, False, True])
  trunc = jnp.array([False, False, True, True])   # last: both flags, the termination wins
  v_final = jnp.array([5.0, 6.0, 7.0, np.nan], jnp.float32)
  r2, d = rl.bootstrap_truncations(r, term, trunc, v_final, discount=0.9)
  np.testing.assert_allclose(r2, [1.0, 1.0, 1.0 + 0.9 * 7.0, 1.0], rtol=1e-6)
  np.testing.assert_allclose(d, [0.9, 0.0, 0.0, 0.0])


def test_gae_through_a_truncation_bootstraps_from_the_final_observation():
  """δ at a truncation uses v(s_final), at a termination nothing, and no advantage crosses."""
  r = jnp.array([1.0, 1.0, 1.0], jnp.float32)
  term, trunc = jnp.array([False, False, True]), jnp.array([True, False, False])
  values = jnp.array([1.0, 2.0, 3.0, 4.0], jnp.float32)   # v(s_0..s_2), bootstrap v(s_3)
  v_final = jnp.array([10.0, 0.0, 0.0], jnp.float32)      # value of the state cut at step 0
  r2, d = rl.bootstrap_truncations(r, term, trunc, v_final, discount=0.5)
  adv = rl.gae(r2, d, 1.0, values)
  # step 2 terminates: δ = 1 − 3; step 1: δ = 1 + .5·3 − 2 = .5, plus .5·(−2); step 0 is cut:
  # δ = 1 + .5·10 − 1 = 5 (not 1 + .5·2 − 1, the reset state's value).
  np.testing.assert_allclose(adv, [5.0, 0.5 - 1.0, -2.0], rtol=1e-6)


def test_losses_under_vmap_and_rank_checks():
  batch = 3
  logits = jnp.tile(jnp.asarray(LOGITS)[None], (batch, 1, 1))
  a = jnp.tile(jnp.asarray(ACTIONS)[None], (batch, 1))
  adv = jnp.arange(batch * 2, dtype=jnp.float32).reshape(batch, 2)
  w = jnp.ones((batch, 2))
  out = jax.jit(jax.vmap(rl.policy_gradient_loss))(logits, a, adv, w)
  expected = [rl.policy_gradient_loss(LOGITS, ACTIONS, adv[i], w[i]) for i in range(batch)]
  np.testing.assert_allclose(out, expected, rtol=1e-6)
  eps = jnp.array([0.1, 0.2, 0.3])
  ratios = jnp.full((batch, 2), 1.25)
  out = jax.vmap(rl.clipped_surrogate_pg_loss)(ratios, adv, eps)
  np.testing.assert_allclose(out, [-(jnp.minimum(1.25, 1 + e) * adv[i]).mean()
                                   for i, e in enumerate(eps)], rtol=1e-6)
  out = jax.vmap(lambda v, vo, g: rl.clipped_value_loss(v, vo, g, epsilon=0.2))(adv, adv, adv)
  np.testing.assert_allclose(out, 0.0)
  with pytest.raises(AssertionError):
    rl.policy_gradient_loss(LOGITS[0], ACTIONS, adv[0], w[0])
  with pytest.raises(AssertionError):
    rl.clipped_surrogate_pg_loss(ratios, adv, 0.2)
  with pytest.raises(AssertionError):
    rl.policy_gradient_loss(LOGITS, ACTIONS.astype(np.float32), adv[0], w[0])
  chex.assert_shape(rl.bootstrap_truncations(adv[0], w[0] > 0, w[0] < 0, adv[0],
                                             discount=0.9)[0], (2,))


def _np_truncation_aware_gae(r, term, trunc, values, final_values, gamma, lam):
  """Float64 loop: the per-step rule written out, independent of bootstrap_truncations/gae."""
  T, N = r.shape
  adv = np.zeros((T, N))
  for n in range(N):
    a = 0.0
    for t in reversed(range(T)):
      if term[t, n]:
        delta, cont = r[t, n] - values[t, n], 0.0
      elif trunc[t, n]:
        delta, cont = r[t, n] + gamma * final_values[t, n] - values[t, n], 0.0
      else:
        delta, cont = r[t, n] + gamma * values[t + 1, n] - values[t, n], gamma * lam
      a = delta + cont * a
      adv[t, n] = a
  return adv


def test_truncation_aware_gae_matches_a_float64_loop_under_jit():
  rng = np.random.default_rng(0)
  T, N = 6, 3
  r = rng.normal(size=(T, N)).astype(np.float32)
  term = np.zeros((T, N), bool)
  trunc = np.zeros((T, N), bool)
  term[2, 0] = True                  # a termination
  trunc[3, 1] = True                 # a time-limit truncation
  term[4, 2] = trunc[4, 2] = True    # both: the termination wins
  values = rng.normal(size=(T + 1, N)).astype(np.float32)
  final_values = rng.normal(size=(T, N)).astype(np.float32)
  adv = jax.jit(lambda *a: rl.truncation_aware_gae(*a, discount=0.9, lambda_=0.8))(
      r, term, trunc, values, final_values)
  np.testing.assert_allclose(
      adv, _np_truncation_aware_gae(r, term, trunc, values, final_values, 0.9, 0.8),
      rtol=1e-5, atol=1e-5)
