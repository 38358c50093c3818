"""MQAR generator: layout, labels (each query's target is its key's value), distinct keys."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.tasks.mqar import mqar_batch


def _check_sequences(batch, *, vocab_size, num_pairs, num_queries, answers=False):
  inputs, targets, mask = (np.asarray(x) for x in batch)
  half = vocab_size // 2
  for x, y, m, n in zip(inputs, targets, mask, num_pairs, strict=True):
    keys, values = x[0:2 * n:2], x[1:2 * n:2]
    assert len(set(keys.tolist())) == n  # distinct keys
    assert ((keys >= 1) & (keys < half)).all() and ((values >= half) & (values < vocab_size)).all()
    table = dict(zip(keys.tolist(), values.tolist(), strict=True))
    positions = np.flatnonzero(m)
    assert len(positions) == min(num_queries, n)
    assert (positions >= 2 * n).all()
    assert len(set(x[positions].tolist())) == len(positions)  # distinct queried keys
    for p in positions:
      assert x[p] in table and y[p] == table[x[p]]
      assert x[p + 1] == (y[p] if answers else 0)
    tail = np.ones(len(x), bool)
    tail[:2 * n] = False
    tail[positions] = False
    if answers:
      tail[positions + 1] = False
    assert (x[tail] == 0).all()  # filler elsewhere
    assert (y[~m] == 0).all()


@pytest.mark.parametrize("num_pairs,num_queries,seq_len,answers",
                         [(4, None, 16, False), (6, 3, 32, True), (8, 8, 32, False)])
def test_fixed_pairs_labels(num_pairs, num_queries, seq_len, answers):
  batch = jax.jit(lambda k: mqar_batch(k, 64, vocab_size=32, seq_len=seq_len,
                                       num_pairs=num_pairs, num_queries=num_queries,
                                       answers_in_input=answers))(jax.random.key(num_pairs))
  assert batch.inputs.shape == batch.targets.shape == batch.mask.shape == (64, seq_len)
  assert batch.inputs.dtype == jnp.int32 and batch.mask.dtype == jnp.bool_
  q = num_pairs if num_queries is None else num_queries
  _check_sequences(batch, vocab_size=32, num_pairs=[num_pairs] * 64, num_queries=q,
                   answers=answers)


def test_mixed_pair_counts_and_randomness():
  n = jax.random.randint(jax.random.key(1), (128,), 1, 9)
  batch = jax.jit(lambda k, n: mqar_batch(k, 128, vocab_size=20, seq_len=24, num_pairs=n,
                                          max_pairs=8, num_queries=4))(jax.random.key(2), n)
  _check_sequences(batch, vocab_size=20, num_pairs=np.asarray(n).tolist(), num_queries=4)
  # Query slots and keys vary over the batch; values use the whole value range.
  assert len({tuple(np.flatnonzero(m)) for m in np.asarray(batch.mask)}) > 50
  assert set(np.asarray(batch.inputs[:, 1:16:2]).ravel().tolist()) >= set(range(10, 20))


def test_validation():
  with pytest.raises(ValueError, match="too short"):
    mqar_batch(jax.random.key(0), 2, vocab_size=32, seq_len=10, num_pairs=4)
  with pytest.raises(ValueError, match="distinct keys"):
    mqar_batch(jax.random.key(0), 2, vocab_size=8, seq_len=64, num_pairs=4)
  with pytest.raises(ValueError, match="max_pairs"):
    mqar_batch(jax.random.key(0), 2, vocab_size=32, seq_len=64, num_pairs=jnp.array([2, 3]))
