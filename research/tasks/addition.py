"""Multi-digit addition with a verifiable 0/1 reward: a small-scale analogue of math RL (SPEC §4).

A problem is `a + b` with operands of 1 to `D` digits (each operand's digit count uniform, then
the value uniform among numbers of that many digits). The prompt is the string `a+b=`, left-padded
with `PAD` to the fixed length `P = 2D + 2`; the answer is the sum's digits, least significant
first by default (`reverse=True`: the order in which carries are computed, which a small causal
transformer learns far more easily), then `EOS`. The answer length varies from 2 to `D + 2`
tokens, and a policy may also ramble on without `EOS` until the generation budget truncates it:
lengths vary and matter (a truncated completion is always wrong).

Tokens: the digits are their own ids `0..9`, then `PLUS`, `EQUALS`, `EOS`, `PAD`
(`VOCAB_SIZE = 14`).

Reward: `1` if the completion, up to and including its first `EOS`, equals the answer exactly,
else `0` (`score`).

Held-out split: a pair is held out iff `(h(a) + b) mod 8 = 0` with `h` a multiplicative hash of
`a` (`is_heldout`), about 1/8 of all pairs. Train problems are drawn with `b` moved by one when a
drawn pair is held out, test problems with `b` moved onto the held-out residue, both keeping the
digit count, so the splits are disjoint by construction while every digit pattern appears in
training (the split is not a shift in the distribution of digits, only a set of unseen problems).

Imperfect demonstrations for supervised pre-training (`demonstrations`): a fraction of the answers
is corrupted, in one of three ways: one wrong digit; one or two extra digits before `EOS`; or
rambling (random digits up to the budget, no `EOS`, i.e. truncated). A model imitating them
produces long wrong answers and truncations with some probability, which RL can remove.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

PLUS, EQUALS, EOS, PAD = 10, 11, 12, 13
VOCAB_SIZE = 14
HELDOUT_MODULUS = 8
SPLITS = ("train", "test")
_HASH = 2654435761  # Knuth's multiplicative hash constant (2^32 / golden ratio)
_POW10 = 10 ** np.arange(10, dtype=np.int64)  # host constants (an integer `**` of traced
                                              # exponents compiles to a loop)


class Problems(NamedTuple):
  """A batch of addition problems.

  Attributes:
    a, b: the operands `int32[B]`.
    prompt: `int32[B, P]`, `a+b=` left-padded with `PAD`, `P = 2D + 2`.
    answer: `int32[B, D + 2]`, the sum's digits then `EOS`, right-padded with `PAD`.
    answer_length: `int32[B]`, tokens of the answer including `EOS`.
  """

  a: jax.Array
  b: jax.Array
  prompt: jax.Array
  answer: jax.Array
  answer_length: jax.Array


def prompt_length(max_digits: int) -> int:
  """`P = 2D + 2`: two operands of up to `D` digits, `+` and `=`."""
  return 2 * max_digits + 2


def answer_length(max_digits: int) -> int:
  """`D + 2`: a sum of up to `D + 1` digits and `EOS`."""
  return max_digits + 2


def num_digits(n) -> jax.Array:
  """Decimal digits of non-negative integers (`0` has one digit)."""
  n = jnp.asarray(n, jnp.int32)
  powers = jnp.asarray(_POW10[1:], jnp.int32)
  return 1 + (n[..., None] >= powers).sum(-1).astype(jnp.int32)


def digits(n, width: int) -> jax.Array:
  """Digits of `n`, least significant first: `int32[..., width]`."""
  n = jnp.asarray(n, jnp.int32)
  return (n[..., None] // jnp.asarray(_POW10[:width], jnp.int32)) % 10


def is_heldout(a, b) -> jax.Array:
  """Whether `(a, b)` belongs to the held-out split: `(h(a) + b) mod 8 = 0`.

  .. math:: h(a) = \\lfloor (a \\cdot 2654435761 \\bmod 2^{32}) / 2^{29} \\rfloor \\in [0, 8)
  """
  a = jnp.asarray(a).astype(jnp.uint32)
  h = (a * jnp.uint32(_HASH)) >> 29
  return ((h + jnp.asarray(b).astype(jnp.uint32)) % HELDOUT_MODULUS) == 0


def sample_operands(key, batch: int, *, max_digits: int, split: str = "train"):
  """Draws `batch` operand pairs of the split (one random draw site).

  Args:
    key: a PRNG key.
    batch: pairs to draw (static).
    max_digits: `D`, the most digits of an operand (static, 1 ≤ D ≤ 8).
    split: `"train"` or `"test"` (static).

  Returns:
    `(a, b)`, `int32[batch]` each.
  """
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
  if not 1 <= max_digits <= 8:
    raise ValueError(f"max_digits must be in [1, 8], got {max_digits}")
  u = jax.random.uniform(key, (4, batch))
  count = 1 + jnp.floor(u[:2] * max_digits).astype(jnp.int32)          # digits of a and b
  pow10 = jnp.asarray(_POW10, jnp.int32)
  low = jnp.where(count > 1, pow10[count - 1], 0)
  high = pow10[count]                                                     # exclusive
  values = low + jnp.floor(u[2:] * (high - low)).astype(jnp.int32)
  values = jnp.minimum(values, high - 1)
  a, b = values[0], values[1]
  b_low, b_high = low[1], high[1]
  if split == "train":
    # A held-out pair becomes a train pair by moving b by one (the residue changes by ±1).
    moved = jnp.where(b + 1 < b_high, b + 1, b - 1)
    b = jnp.where(is_heldout(a, b), moved, b)
  else:
    # Move b down onto the held-out residue (at most 7), or up by 8 - that if it leaves the range.
    h = ((a.astype(jnp.uint32) * jnp.uint32(_HASH)) >> 29).astype(jnp.int32)
    r = (h + b) % HELDOUT_MODULUS
    b = jnp.where(b - r >= b_low, b - r, b - r + HELDOUT_MODULUS)
  return a, b


def encode_prompt(a, b, *, max_digits: int) -> jax.Array:
  """`a+b=` (most significant digit first), left-padded with `PAD` to `P = 2D + 2` tokens."""
  a, b = jnp.asarray(a, jnp.int32), jnp.asarray(b, jnp.int32)
  na, nb = num_digits(a)[:, None], num_digits(b)[:, None]
  da, db = digits(a, max_digits), digits(b, max_digits)
  length = prompt_length(max_digits)
  s = jnp.arange(length)[None, :] - (length - (na + nb + 2))            # position in `a+b=`
  take = lambda d, i: jnp.take_along_axis(d, jnp.clip(i, 0, max_digits - 1), axis=1)
  tokens = jnp.where(s < na, take(da, na - 1 - s), PLUS)
  tokens = jnp.where(s > na, take(db, na + nb - s), tokens)
  tokens = jnp.where(s == na + nb + 1, EQUALS, tokens)
  return jnp.where(s < 0, PAD, tokens).astype(jnp.int32)


def encode_answer(total, *, max_digits: int, reverse: bool = True):
  """The answer tokens of a sum: its digits, then `EOS`, right-padded with `PAD`.

  Returns:
    `(tokens int32[B, D + 2], length int32[B])`, the length counting `EOS`.
  """
  total = jnp.asarray(total, jnp.int32)
  width = answer_length(max_digits)
  n = num_digits(total)[:, None]
  d = digits(total, width)
  s = jnp.arange(width)[None, :]
  index = s if reverse else n - 1 - s
  tokens = jnp.take_along_axis(d, jnp.clip(index, 0, width - 1), axis=1)
  tokens = jnp.where(s < n, tokens, jnp.where(s == n, EOS, PAD))
  return tokens.astype(jnp.int32), n[:, 0] + 1


def problems(key, batch: int, *, max_digits: int, split: str = "train",
             reverse: bool = True) -> Problems:
  """A batch of `batch` problems of the split, with prompts and answers."""
  a, b = sample_operands(key, batch, max_digits=max_digits, split=split)
  answer, length = encode_answer(a + b, max_digits=max_digits, reverse=reverse)
  return Problems(a, b, encode_prompt(a, b, max_digits=max_digits), answer, length)


def score(completion, answer, answer_length) -> jax.Array:
  """The verifiable reward: `1.0` iff the completion up to its first `EOS` is the answer.

  .. math:: R = \\mathbb{1}[y_{1:n} = \\text{answer}_{1:n}], \\quad n = |\\text{answer}|
    \\text{ (the answer's last token is EOS)}

  Tokens after the first `EOS` are ignored; a completion without `EOS` (truncated) scores 0.

  Args:
    completion: generated tokens `int[B, N]`.
    answer: `int[B, A]` answers from `encode_answer`.
    answer_length: `int[B]`, including `EOS`.

  Returns:
    Rewards `float32[B]` in {0, 1}.
  """
  completion, answer = jnp.asarray(completion), jnp.asarray(answer)
  n, width = completion.shape[1], answer.shape[1]
  if n < width:
    completion = jnp.pad(completion, ((0, 0), (0, width - n)), constant_values=PAD)
  elif n > width:
    answer = jnp.pad(answer, ((0, 0), (0, n - width)), constant_values=PAD)
  positions = jnp.arange(completion.shape[1])[None, :]
  inside = positions < jnp.asarray(answer_length)[:, None]
  match = jnp.where(inside, completion == answer, True).all(axis=1)
  fits = jnp.asarray(answer_length) <= n
  return (match & fits).astype(jnp.float32)


def completion_length(completion) -> tuple[jax.Array, jax.Array]:
  """Length of each completion up to and including its first `EOS`, and whether it has none.

  Returns:
    `(length int32[B], truncated bool[B])`; a truncated completion has the full length `N`.
  """
  completion = jnp.asarray(completion)
  is_eos = completion == EOS
  truncated = ~is_eos.any(axis=1)
  first = jnp.argmax(is_eos, axis=1).astype(jnp.int32)
  return jnp.where(truncated, completion.shape[1], first + 1), truncated


def demonstrations(key, prob: Problems, *, max_new_tokens: int, corrupt: float,
                   corrupt_kinds=(1.0, 1.0, 1.0)):
  """Demonstration completions for supervised pre-training, a fraction of them corrupted.

  With probability `corrupt` a demonstration is wrong, the kind drawn with weights
  `corrupt_kinds` among: a wrong digit (one digit replaced by a different one), extra digits (one
  or two random digits inserted before `EOS`), rambling (random digits after the answer's digits
  up to the budget, no `EOS`: a truncated completion). One random draw site.

  Args:
    key: a PRNG key.
    prob: the problems.
    max_new_tokens: the generation budget `N` (≥ `D + 4`, static).
    corrupt: the fraction of corrupted demonstrations, in [0, 1].
    corrupt_kinds: relative weights of (wrong digit, extra digits, rambling), static.

  Returns:
    `(tokens int32[B, N], mask float32[B, N], correct bool[B])`: the completion (padded with
    `PAD`), the tokens to imitate (up to and including `EOS`, or all `N` when rambling), and
    whether the demonstration is correct.
  """
  batch, width = prob.answer.shape
  if max_new_tokens < width + 2:
    raise ValueError(f"max_new_tokens must be ≥ {width + 2} (D + 4), got {max_new_tokens}")
  u = jax.random.uniform(key, (4 + max_new_tokens, batch))
  n_digits = prob.answer_length - 1
  weights = jnp.asarray(corrupt_kinds, jnp.float32)
  bounds = jnp.cumsum(weights) / weights.sum()
  kind = (u[1][:, None] >= bounds[None, :-1]).sum(1)                     # 0, 1 or 2
  bad = u[0] < corrupt
  random_digits = jnp.floor(u[4:].T * 10).astype(jnp.int32)             # [B, N]
  positions = jnp.arange(max_new_tokens)[None, :]
  answer = jnp.pad(prob.answer, ((0, 0), (0, max_new_tokens - width)), constant_values=PAD)
  # Wrong digit: position uniform among the answer's digits, shifted by 1..9 (mod 10).
  where = jnp.floor(u[2] * n_digits).astype(jnp.int32)[:, None]
  shift = 1 + jnp.floor(u[3] * 9).astype(jnp.int32)[:, None]
  wrong = jnp.where(positions == where, (answer + shift) % 10, answer)
  # Extra digits: 1 or 2 random digits, then EOS.
  extra_n = (1 + (u[3] < 0.5)).astype(jnp.int32)[:, None]
  end = n_digits[:, None] + extra_n
  extra = jnp.where(positions < n_digits[:, None], answer,
                    jnp.where(positions < end, random_digits, jnp.where(positions == end, EOS,
                                                                         PAD)))
  # Rambling: the answer's digits, then random digits to the budget (no EOS).
  ramble = jnp.where(positions < n_digits[:, None], answer, random_digits)
  corrupted = jnp.select([kind[:, None] == 0, kind[:, None] == 1], [wrong, extra], ramble)
  tokens = jnp.where(bad[:, None], corrupted, answer).astype(jnp.int32)
  length, _ = completion_length(tokens)
  mask = (positions < length[:, None]).astype(jnp.float32)
  return tokens, mask, ~bad
