"""The RL-iteration pieces: groups, token log-probabilities, dynamic-sampling cost, minibatches,
and the policy loss with a traced aggregation mix."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import llm_rl
from research.llm_rl import rollout


def test_repeat_groups_layout():
  x = jnp.array([[1, 2], [3, 4]])
  np.testing.assert_array_equal(rollout.repeat_groups(x, group_size=3),
                                [[1, 2]] * 3 + [[3, 4]] * 3)


def test_token_logprobs_and_entropy():
  logits = jnp.array([[[0.0, 0.0, 0.0, 0.0], [2.0, 0.0, -1.0, 0.5]]])
  targets = jnp.array([[3, 0]])
  logp, entropy = rollout.token_logprobs(logits, targets)
  ref = jax.nn.log_softmax(logits[0, 1])
  np.testing.assert_allclose(logp, [[np.log(0.25), ref[0]]], rtol=1e-6)
  np.testing.assert_allclose(entropy[0, 0], np.log(4.0), rtol=1e-6)
  np.testing.assert_allclose(entropy[0, 1], -(jnp.exp(ref) * ref).sum(), rtol=1e-6)
  # Temperature 2 halves the logits.
  logp2, _ = rollout.token_logprobs(logits, targets, temperature=2.0)
  np.testing.assert_allclose(logp2[0, 1], jax.nn.log_softmax(logits[0, 1] / 2)[0], rtol=1e-6)


def test_dynamic_sampling_selection_by_hand():
  # Pool of 4 groups of 2: [1,1] all-correct, [0,1] informative, [0,0], [1,0] informative.
  rewards = jnp.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0])
  idx, valid, spent, kept = rollout.dynamic_sampling_selection(rewards, group_size=2,
                                                               num_groups=2)
  np.testing.assert_array_equal(idx, [1, 3])
  np.testing.assert_array_equal(valid, [True, True])
  assert int(spent) == 4 and int(kept) == 2   # groups 0..3 spent: 8 samples for 2 prompts
  idx, valid, spent, kept = rollout.dynamic_sampling_selection(rewards, group_size=2,
                                                               num_groups=1)
  np.testing.assert_array_equal(idx, [1])
  assert int(spent) == 2 and int(kept) == 1   # stops at the first informative group
  idx, valid, spent, kept = rollout.dynamic_sampling_selection(rewards, group_size=2,
                                                               num_groups=3)
  np.testing.assert_array_equal(idx, [1, 3, 0])
  np.testing.assert_array_equal(valid, [True, True, False])
  assert int(spent) == 4 and int(kept) == 2   # the pool ran out
  f = jax.jit(jax.vmap(lambda r: rollout.dynamic_sampling_selection(r, group_size=2,
                                                                    num_groups=2)))
  out = f(jnp.stack([rewards, rewards[::-1]]))
  np.testing.assert_array_equal(out[0], [[1, 3], [0, 2]])
  np.testing.assert_array_equal(out[2], [4, 3])


def test_minibatch_plan_is_a_permutation_per_epoch():
  plan = rollout.minibatch_plan(jax.random.key(0), 12, num_minibatches=3, epochs=2)
  assert plan.shape == (6, 4) and plan.dtype == jnp.int32
  for epoch in np.asarray(plan).reshape(2, 12):
    np.testing.assert_array_equal(np.sort(epoch), np.arange(12))
  with pytest.raises(ValueError, match="multiple"):
    rollout.minibatch_plan(jax.random.key(0), 10, num_minibatches=3)


def _example():
  k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
  logp = -jnp.abs(jax.random.normal(k1, (4, 6)))
  old = logp + 0.3 * jax.random.normal(k2, (4, 6))
  adv = jax.random.normal(k3, (4,))
  mask = (jnp.arange(6)[None, :] < jnp.array([[2], [6], [3], [0]])).astype(jnp.float32)
  return logp, old, adv, mask


def test_mixed_policy_loss_one_hot_equals_policy_loss():
  logp, old, adv, mask = _example()
  kwargs = dict(eps_low=0.2, eps_high=0.28, max_len=8, ref_logp=old - 0.1, kl_coef=0.04)
  for k, mode in enumerate(llm_rl.AGGREGATION_MODES):
    w = jnp.eye(3)[k]
    mixed = lambda lp, w=w: rollout.mixed_policy_loss(lp, old, adv, mask,
                                                      aggregation_weights=w, **kwargs)
    plain = lambda lp, mode=mode: llm_rl.policy_loss(lp, old, adv, mask, aggregation=mode,
                                                     **kwargs)
    (loss_m, met_m), grad_m = jax.value_and_grad(mixed, has_aux=True)(logp)
    (loss_p, met_p), grad_p = jax.value_and_grad(plain, has_aux=True)(logp)
    np.testing.assert_allclose(loss_m, loss_p, rtol=1e-6)
    np.testing.assert_allclose(grad_m, grad_p, rtol=1e-5, atol=1e-8)
    for name in ("pg_loss", "kl_loss", "clip_frac_low", "clip_frac_high", "approx_kl"):
      np.testing.assert_allclose(met_m[name], met_p[name], rtol=1e-6, atol=1e-9)
  # A convex mix is the mix of the losses; the weights may be traced (vmapped arms).
  w = jnp.array([0.5, 0.25, 0.25])
  losses = [llm_rl.policy_loss(logp, old, adv, mask, aggregation=m, **kwargs)[0]
            for m in llm_rl.AGGREGATION_MODES]
  got = jax.jit(lambda w: rollout.mixed_policy_loss(logp, old, adv, mask,
                                                    aggregation_weights=w, **kwargs)[0])(w)
  np.testing.assert_allclose(got, np.dot(w, losses), rtol=1e-6)
  batched = jax.vmap(lambda w: rollout.mixed_policy_loss(logp, old, adv, mask,
                                                         aggregation_weights=w, **kwargs)[0])
  np.testing.assert_allclose(batched(jnp.eye(3)), losses, rtol=1e-6)
  with pytest.raises(TypeError, match="aggregation"):
    rollout.mixed_policy_loss(logp, old, adv, mask, aggregation_weights=w,
                              aggregation="token-mean")


def test_masked_sum_count():
  s, n = rollout.masked_sum_count(jnp.array([1.0, 2.0, 3.0]), jnp.array([True, False, True]))
  assert float(s) == 4.0 and float(n) == 2.0
  assert float(rollout.ratio_of_sums(s, n)) == 2.0
  assert float(rollout.ratio_of_sums(0.0, 0.0)) == 0.0
