"""The addition task: encoding, the verifiable reward, the held-out split, the demonstrations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.tasks import addition

E, P = addition.EOS, addition.PAD
# Jitted once per static setting: faster than op-by-op dispatch of the many small operations.
_operands = jax.jit(addition.sample_operands, static_argnums=1,
                    static_argnames=("max_digits", "split"))
_problems = jax.jit(addition.problems, static_argnums=1, static_argnames=("max_digits",))
_demos = jax.jit(addition.demonstrations, static_argnames=("max_new_tokens", "corrupt_kinds"))


def _tokens(text):
  """'850+597=' -> token ids ('$' is EOS, '_' is PAD)."""
  table = {**{str(d): d for d in range(10)}, "+": addition.PLUS, "=": addition.EQUALS, "$": E,
           "_": P}
  return [table[ch] for ch in text]


def test_encoding_by_hand():
  a, b = jnp.array([850, 5, 12]), jnp.array([597, 3, 0])
  prompt = addition.encode_prompt(a, b, max_digits=3)
  assert prompt.shape == (3, addition.prompt_length(3)) == (3, 8)
  np.testing.assert_array_equal(prompt, [_tokens("850+597="), _tokens("____5+3="),
                                         _tokens("___12+0=")])
  answer, length = addition.encode_answer(a + b, max_digits=3)
  np.testing.assert_array_equal(answer, [_tokens("7441$"), _tokens("8$___"), _tokens("21$__")])
  np.testing.assert_array_equal(length, [5, 2, 3])
  answer, length = addition.encode_answer(a + b, max_digits=3, reverse=False)
  np.testing.assert_array_equal(answer, [_tokens("1447$"), _tokens("8$___"), _tokens("12$__")])
  np.testing.assert_array_equal(addition.num_digits(jnp.array([0, 9, 10, 999, 1000])),
                                [1, 1, 2, 3, 4])


def test_score_exact_match_before_eos():
  answer, length = addition.encode_answer(jnp.array([1447] * 6), max_digits=3)
  completions = jnp.array([
    _tokens("7441$$$$"),   # exact, EOS repeated after (ignored)
    _tokens("7441$123"),   # exact, junk after EOS (ignored)
    _tokens("7442$___"),   # a wrong digit
    _tokens("74410$__"),   # an extra digit before EOS
    _tokens("74411111"),   # no EOS: truncated
    _tokens("744$____"),   # too short
  ])
  np.testing.assert_array_equal(addition.score(completions, answer, length), [1, 1, 0, 0, 0, 0])
  # A budget shorter than the answer cannot be right; a longer one is fine.
  np.testing.assert_array_equal(addition.score(completions[:1, :4], answer[:1], length[:1]), [0])
  lengths, truncated = addition.completion_length(completions)
  np.testing.assert_array_equal(lengths, [5, 5, 5, 6, 8, 4])
  np.testing.assert_array_equal(truncated, [0, 0, 0, 0, 1, 0])
  # Under jit and vmap.
  f = jax.jit(jax.vmap(addition.score))
  np.testing.assert_array_equal(f(completions[None], answer[None], length[None]),
                                [[1, 1, 0, 0, 0, 0]])


def test_heldout_split_is_disjoint_and_covers_digits():
  key = jax.random.key(0)
  for digits in (1, 2, 3):
    a, b = _operands(key, 4000, max_digits=digits, split="train")
    assert not np.asarray(addition.is_heldout(a, b)).any()
    a2, b2 = _operands(key, 4000, max_digits=digits, split="test")
    assert np.asarray(addition.is_heldout(a2, b2)).all()
    for x in (a, b, a2, b2):
      x = np.asarray(x)
      assert x.min() >= 0 and x.max() < 10**digits
      np.testing.assert_array_equal(np.unique(np.asarray(addition.num_digits(x))),
                                    np.arange(1, digits + 1))
  # All pairs of two-digit operands: about 1/8 are held out, and no pair is in both splits.
  grid = np.arange(100)
  held = np.asarray(addition.is_heldout(np.repeat(grid, 100), np.tile(grid, 100)))
  assert 0.1 < held.mean() < 0.15
  train_pairs = set(zip(*map(np.asarray, _operands(key, 20000, max_digits=2, split="train")),
                        strict=True))
  test_pairs = set(zip(*map(np.asarray, _operands(key, 5000, max_digits=2, split="test")),
                       strict=True))
  assert not train_pairs & test_pairs
  with pytest.raises(ValueError, match="split"):
    addition.sample_operands(key, 4, max_digits=2, split="valid")


def test_problems_answers_are_the_sums():
  prob = _problems(jax.random.key(1), 64, max_digits=3)
  total = np.asarray(prob.a + prob.b)
  digits = np.asarray(prob.answer)
  for i in range(64):
    n = int(prob.answer_length[i]) - 1
    assert int("".join(str(d) for d in digits[i, :n][::-1])) == total[i]
    assert digits[i, n] == E


def test_demonstrations():
  prob = _problems(jax.random.key(2), 256, max_digits=3)
  width = addition.answer_length(3)
  tokens, mask, correct = _demos(jax.random.key(3), prob, max_new_tokens=8,
                                                  corrupt=0.0)
  np.testing.assert_array_equal(tokens[:, :width], prob.answer)
  np.testing.assert_array_equal(mask.sum(1), prob.answer_length)
  assert np.asarray(correct).all()
  np.testing.assert_array_equal(addition.score(tokens, prob.answer, prob.answer_length), 1.0)
  # Every corrupted demonstration is wrong; rambling ones have no EOS and a full mask.
  tokens, mask, correct = _demos(jax.random.key(3), prob, max_new_tokens=8,
                                                  corrupt=1.0)
  assert not np.asarray(correct).any()
  np.testing.assert_array_equal(addition.score(tokens, prob.answer, prob.answer_length), 0.0)
  tokens, mask, _ = _demos(jax.random.key(3), prob, max_new_tokens=8, corrupt=1.0,
                           corrupt_kinds=(0.0, 0.0, 1.0))
  assert np.asarray(addition.completion_length(tokens)[1]).all()
  np.testing.assert_array_equal(mask, 1.0)
  # A fraction of them: about `corrupt`.
  _, _, correct = _demos(jax.random.key(4), prob, max_new_tokens=8, corrupt=0.3)
  assert 0.55 < float(np.mean(correct)) < 0.85
  with pytest.raises(ValueError, match="max_new_tokens"):
    addition.demonstrations(jax.random.key(3), prob, max_new_tokens=5, corrupt=0.5)
