"""Decoding: cached logits equal the full pass for every kind; sampling modes and log-probs."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.models import decoding
from research.models.transformer import init_lm
from tests.models._lm import CASES, PERFORMER_ATOL, small_model


@functools.partial(jax.jit, static_argnums=(0, 3))
def _full_and_cached(model, variables, tokens, prompt_len):
  """Full-pass logits, and the logits of prefill(prompt) + decode steps, and from scratch."""
  full = model.apply(variables, tokens)
  length = tokens.shape[1]
  logits, cache = decoding.prefill(model, variables, tokens[:, :prompt_len], length)

  def step(cache, token):
    logits, cache = decoding.decode_step(model, variables, token, cache)
    return cache, logits

  _, rest = jax.lax.scan(step, cache, tokens[:, prompt_len:].T)
  cached = jnp.concatenate([logits[:, None], jnp.swapaxes(rest, 0, 1)], axis=1)
  empty = decoding.init_cache(model, variables, tokens.shape[0], length)
  _, scratch = jax.lax.scan(step, empty, tokens.T)
  return full, cached, jnp.swapaxes(scratch, 0, 1)


@pytest.mark.parametrize("attention,variant,conv_size", CASES)
def test_cached_decoding_matches_full_forward(attention, variant, conv_size):
  model = small_model(attention, variant=variant, conv_size=conv_size)
  tokens = jax.random.randint(jax.random.key(2), (3, 14), 0, 11)
  variables = init_lm(model, jax.random.key(0))
  prompt_len = 6  # the prompt ends inside a diag block and a linear chunk
  assert model.chunk_size == model.block_size == 4
  full, cached, scratch = _full_and_cached(model, variables, tokens, prompt_len)
  atol = PERFORMER_ATOL if attention == "performer" else 2e-6
  np.testing.assert_allclose(cached, full[:, prompt_len - 1:], atol=atol, rtol=0)
  np.testing.assert_allclose(scratch, full, atol=atol, rtol=0)


def test_prompt_shorter_than_the_convolution():
  """A 1-token prompt with conv_size 3: prefill pads the convolution's history with zeros."""
  model = small_model("linear", num_layers=1, conv_size=3)
  tokens = jax.random.randint(jax.random.key(5), (2, 6), 0, 11)
  variables = init_lm(model, jax.random.key(1))
  full, cached, _ = _full_and_cached(model, variables, tokens, 1)
  np.testing.assert_allclose(cached, full, atol=2e-6, rtol=0)


def _generate_and_score(model, variables, key, prompt, *, n, top_k=None, greedy=False,
                        eos_id=None, temperature=1.0, score=False):
  """A generation, the full pass's logits at the generated positions and (if `score`)
  sequence_logprobs of the generated tokens."""
  out = decoding.generate(model, variables, key, prompt, max_new_tokens=n, top_k=top_k,
                          greedy=greedy, eos_id=eos_id, temperature=temperature)
  sequence = jnp.concatenate([prompt, out.tokens], axis=1)
  full_logits = model.apply(variables, sequence)[:, prompt.shape[1] - 1:-1]
  if not score:
    return out, full_logits, None
  scores = decoding.sequence_logprobs(model, variables, sequence)[:, prompt.shape[1] - 1:]
  return out, full_logits, scores


@pytest.fixture(scope="module")
def samples():
  """Every sampling mode the tests check (a 2-layer softmax + linear model)."""
  model = small_model(("softmax", "linear"))
  variables = init_lm(model, jax.random.key(0))
  run = jax.jit(functools.partial(_generate_and_score, model),
                static_argnames=("n", "top_k", "greedy", "eos_id", "score"))
  prompt = jax.random.randint(jax.random.key(3), (64, 3), 0, 11)
  fixed = jnp.tile(jnp.array([[1, 2, 3]], jnp.int32), (4000, 1))
  return {
    "plain": run(variables, jax.random.key(4), prompt, n=6, score=True),
    "greedy": run(variables, jax.random.key(6), prompt, n=6, greedy=True),
    "top3": run(variables, jax.random.key(8), prompt, n=6, top_k=3, temperature=5.0),
    "eos": run(variables, jax.random.key(11), prompt, n=6, eos_id=0, temperature=3.0,
               score=True),
    "cold": run(variables, jax.random.key(9), fixed, n=1, temperature=0.5),
    "hot": run(variables, jax.random.key(9), fixed, n=1, temperature=2.0),  # same program
  }


def test_generate_shapes_and_logprobs_match_sequence_logprobs(samples):
  out, _, scores = samples["plain"]
  assert out.tokens.shape == out.logprobs.shape == out.mask.shape == (64, 6)
  assert out.tokens.dtype == jnp.int32 and out.lengths.tolist() == [6] * 64
  assert bool(out.mask.all())
  np.testing.assert_allclose(out.logprobs, scores, atol=1e-5)
  assert scores.shape == (64, 6)


def test_greedy_is_argmax_of_the_full_forward(samples):
  out, full_logits, _ = samples["greedy"]
  np.testing.assert_array_equal(out.tokens, jnp.argmax(full_logits, axis=-1))


def test_top_k_never_samples_outside_the_top_k(samples):
  out, full_logits, _ = samples["top3"]  # temperature 5: flat, all three get drawn
  rank = (full_logits > jnp.take_along_axis(full_logits, out.tokens[..., None], -1)).sum(-1)
  assert int(rank.max()) <= 2
  assert set(np.unique(rank).tolist()) == {0, 1, 2}


def test_temperature_sampling_follows_the_model_distribution(samples):
  """One step from a fixed prompt: empirical frequencies vs softmax(logits / T)."""
  for name, temperature in (("cold", 0.5), ("hot", 2.0)):
    out, full_logits, _ = samples[name]
    freq = np.bincount(np.asarray(out.tokens[:, 0]), minlength=11) / 4000
    expected = jax.nn.softmax(full_logits[0, 0] / temperature)
    np.testing.assert_allclose(freq, expected, atol=0.03)


def test_eos_stops_rows_and_masks_the_rest(samples):
  out, _, scores = samples["eos"]
  tokens, mask = np.asarray(out.tokens), np.asarray(out.mask)
  for row in range(64):
    hits = np.flatnonzero(tokens[row] == 0)
    length = hits[0] + 1 if hits.size else 6
    assert out.lengths[row] == length == mask[row].sum()
    assert mask[row, :length].all() and not mask[row, length:].any()
    assert (tokens[row, length:] == 0).all()
  assert out.lengths.min() < 6  # some row did stop
  np.testing.assert_allclose(np.where(mask, scores, 0), out.logprobs, atol=1e-5)
  assert (np.asarray(out.logprobs)[~mask] == 0).all()


def test_generate_under_vmap_over_seeds():
  model = small_model("performer", num_layers=1)
  keys = jax.random.split(jax.random.key(0), 2)
  variables = jax.vmap(functools.partial(init_lm, model))(keys)
  prompt = jnp.zeros((3, 2), jnp.int32)

  @jax.jit
  def run(variables, key):
    return decoding.generate(model, variables, key, prompt, max_new_tokens=3)

  out = jax.vmap(run)(variables, jax.random.split(jax.random.key(1), 2))
  assert out.tokens.shape == (2, 3, 3)
  single = run(jax.tree.map(lambda x: x[1], variables), jax.random.split(jax.random.key(1), 2)[1])
  np.testing.assert_array_equal(out.tokens[1], single.tokens)
  np.testing.assert_allclose(out.logprobs[1], single.logprobs, atol=1e-5)
