"""Performer / FAVOR+: random matrices, unbiased feature maps, stabilisers, attention."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import attention
from tests.attention import _reference as ref

NUM_DRAWS = 2000


def _within_standard_errors(samples, expected, num_se=4.0):
  samples = np.asarray(samples, np.float64)
  mean = samples.mean(axis=0)
  se = samples.std(axis=0, ddof=1) / np.sqrt(samples.shape[0])
  assert np.all(np.abs(mean - expected) <= num_se * se + 1e-12), (mean, expected, se)


def test_orthogonal_rows_within_blocks_and_shapes():
  d, m = 4, 10  # blocks of rows 0-3, 4-7 and a truncated block 8-9
  w = np.asarray(attention.gaussian_orthogonal_random_matrix(jax.random.key(0), m, d),
                 np.float64)
  assert w.shape == (m, d)
  unit = w / np.linalg.norm(w, axis=1, keepdims=True)
  for block in (slice(0, 4), slice(4, 8), slice(8, 10)):
    gram = unit[block] @ unit[block].T
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-5)
  assert np.max(np.abs(unit[0:4] @ unit[4:8].T)) > 1e-3  # blocks are independent


def test_row_norms_sqrt_d_and_chi():
  d, m = 4, 4096

  @jax.jit
  def draw(key):
    return (attention.gaussian_orthogonal_random_matrix(key, m, d, scaling="sqrt_d"),
            attention.gaussian_random_matrix(key, m, d, scaling="sqrt_d"),
            attention.gaussian_orthogonal_random_matrix(key, m, d, scaling="chi"),
            attention.gaussian_random_matrix(key, m, d, scaling="chi"))

  *sqrt_d, orthogonal_chi, iid_chi = draw(jax.random.key(1))
  for w in sqrt_d:
    np.testing.assert_allclose(np.linalg.norm(np.asarray(w), axis=1), np.sqrt(d), rtol=1e-5)
  for w in (orthogonal_chi, iid_chi):
    sq_norms = np.sum(np.asarray(w, np.float64) ** 2, axis=1)
    # chi^2_D: mean D, variance 2D.
    assert abs(sq_norms.mean() - d) < 4 * np.sqrt(2 * d / m)
    assert abs(sq_norms.var() - 2 * d) < 0.2 * 2 * d


@functools.cache
def _projection_draws(orthogonal, num_features=8, dim=4):
  """`NUM_DRAWS` projections `[NUM_DRAWS, m, D]` from independent keys (one compiled program)."""
  keys = jax.random.split(jax.random.key(4), NUM_DRAWS)
  draw = lambda key: attention.gaussian_orthogonal_random_matrix(key, num_features, dim,
                                                                 orthogonal=orthogonal)
  return jax.jit(jax.vmap(draw))(keys)


def test_orthogonal_blocks_are_haar_distributed():
  """With the sign fix every entry has mean 0 and each row has covariance I (chi norms); without
  it the diagonal of a block would be biased (e.g. always negative)."""
  d = 4
  for block in (slice(0, 4), slice(4, 8)):
    w = np.asarray(_projection_draws(True)[:, block], np.float64)  # [draws, d, d]
    _within_standard_errors(w.reshape(NUM_DRAWS, -1), 0.0)
    second_moments = np.einsum("nri,nrj->nrij", w, w).reshape(NUM_DRAWS, -1)
    _within_standard_errors(second_moments, np.tile(np.eye(d).ravel(), d))


def test_raw_feature_maps_are_unbiased_for_exp_kernel():
  rng = np.random.default_rng(3)
  x = 0.5 * rng.standard_normal((3, 4)).astype(np.float32)
  y = 0.5 * rng.standard_normal((3, 4)).astype(np.float32)
  expected = np.exp(np.sum(ref.f64(x) * ref.f64(y), axis=-1))

  @jax.jit
  @jax.vmap
  def estimates(w):
    return jnp.stack([jnp.sum(features(x, w) * features(y, w), axis=-1) for features in
                      (attention.positive_random_features, attention.trig_random_features)])

  for orthogonal in (False, True):
    samples = np.asarray(estimates(_projection_draws(orthogonal)))  # [draws, 2 maps, 3 pairs]
    for kind in range(2):
      _within_standard_errors(samples[:, kind], expected)


def test_favor_features_scale_inputs_by_d_to_the_minus_quarter():
  d, m = 4, 16
  x = ref.qkv(5, (2, 5, 3, d))[0]
  w = attention.gaussian_orthogonal_random_matrix(jax.random.key(6), m, d)
  raw = attention.favor_features(x, w, is_query=True, stabilize=False)
  assert raw.shape == (2, 5, 3, m)
  ref.assert_close(raw, attention.positive_random_features(x * d ** -0.25, w), rtol=1e-5)
  trig = attention.favor_features(x, w, kind="trig", is_query=False, stabilize=False)
  assert trig.shape == (2, 5, 3, 2 * m)
  ref.assert_close(trig, attention.trig_random_features(x * d ** -0.25, w), rtol=1e-5)


def test_stabilisers_per_row_for_queries_and_per_sequence_for_keys():
  d, m = 4, 16
  x = 3.0 * ref.qkv(7, (2, 6, 3, d))[0]
  w = attention.gaussian_orthogonal_random_matrix(jax.random.key(8), m, d)
  phi_q = np.asarray(attention.favor_features(x, w, is_query=True))
  np.testing.assert_allclose(phi_q.max(axis=-1), 1 / np.sqrt(m), rtol=1e-5)  # every row
  phi_k = np.asarray(attention.favor_features(x, w, is_query=False))
  np.testing.assert_allclose(phi_k.max(axis=(-3, -1)), 1 / np.sqrt(m), rtol=1e-5)  # [B, H]
  assert phi_k.max(axis=-1).min() < 0.99 / np.sqrt(m)  # not per row


@pytest.mark.parametrize("kind", ["positive", "trig"])
@pytest.mark.parametrize("causal", [False, True])
def test_performer_equals_naive_reference_with_same_features(kind, causal):
  d, m = 4, 16
  q, k, v = ref.qkv(9, (2, 11, 2, d), dv=3)
  q, k = 0.5 * q, 0.5 * k
  w = attention.gaussian_orthogonal_random_matrix(jax.random.key(10), m, d)
  out = attention.performer_attention(q, k, v, w, causal=causal, kind=kind, chunk_size=4)
  assert out.shape == (2, 11, 2, 3)
  phi_q = attention.favor_features(q, w, kind=kind, is_query=True)
  phi_k = attention.favor_features(k, w, kind=kind, is_query=False)
  ref.assert_close(out, ref.kernel_attention(phi_q, phi_k, v, causal=causal), rtol=2e-4)
  # The stabilisers cancel: unstabilised features give the same attention.
  raw_q = attention.favor_features(q, w, kind=kind, is_query=True, stabilize=False)
  raw_k = attention.favor_features(k, w, kind=kind, is_query=False, stabilize=False)
  ref.assert_close(out, ref.kernel_attention(raw_q, raw_k, v, causal=causal, eps=0.0),
                   rtol=2e-3, atol=1e-4)


def test_performer_converges_to_softmax_attention_as_features_grow():
  d = 4
  q, k, v = ref.qkv(11, (1, 16, 1, d))
  q, k = 0.5 * q, 0.5 * k  # small logits: FAVOR+'s variance grows like exp(‖q + k‖² / √D)
  expected = ref.softmax_attention(q, k, v, ref.causal_mask(16))
  keys = jax.random.split(jax.random.key(12), 4)
  # The first m rows of a draw (whole blocks of D rows) are a draw with m features.
  projections = jax.vmap(lambda key: attention.gaussian_orthogonal_random_matrix(key, 4096, d))(
    keys)
  performer = jax.jit(jax.vmap(lambda w: attention.performer_attention(q, k, v, w, causal=True)))

  def mean_error(m):
    out = np.asarray(performer(projections[:, :m]), np.float64)
    return float(np.mean(np.abs(out - expected)))

  errors = [mean_error(m) for m in (16, 256, 4096)]
  assert errors[0] > errors[1] > errors[2], errors
  assert errors[2] < 0.01, errors


def test_key_stabiliser_never_mixes_batch_elements():
  d, m = 4, 16
  q, k, v = ref.qkv(13, (2, 9, 2, d))
  w = attention.gaussian_orthogonal_random_matrix(jax.random.key(14), m, d)
  out = attention.performer_attention(q, k, v, w, causal=True)
  k2 = k.copy()
  k2[1] *= 30.0  # huge keys in batch element 1 only
  out2 = attention.performer_attention(q, k2, v, w, causal=True)
  np.testing.assert_allclose(np.asarray(out2[0]), np.asarray(out[0]), rtol=1e-6, atol=1e-7)
  assert not np.allclose(np.asarray(out2[1]), np.asarray(out[1]))


def test_performer_gradients_match_naive_implementation():
  d, m = 4, 16
  q, k, v = ref.qkv(15, (1, 10, 2, d))
  w = attention.gaussian_orthogonal_random_matrix(jax.random.key(16), m, d)

  def naive(q, k, v):
    phi_q = attention.favor_features(q, w, is_query=True)
    phi_k = attention.favor_features(k, w, is_query=False)
    scores = jnp.einsum("thf,shf->hts", phi_q[0], phi_k[0]) * jnp.tril(jnp.ones((10, 10)))
    num = jnp.einsum("hts,shd->thd", scores, v[0])
    return num / (jnp.swapaxes(scores.sum(-1), 0, 1)[..., None] + 1e-6)

  fast = functools.partial(attention.performer_attention, projection=w, causal=True,
                           chunk_size=3)
  grad = lambda f: jax.jit(jax.grad(lambda *a: jnp.sum(jnp.sin(f(*a))), argnums=(0, 1, 2)))
  grads, expected = grad(fast)(q, k, v), grad(naive)(q, k, v)
  for g, e in zip(grads, expected, strict=True):
    assert np.all(np.isfinite(np.asarray(g)))
    ref.assert_close(g, e, rtol=1e-3, atol=1e-5)
