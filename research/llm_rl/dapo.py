"""DAPO's data-side pieces: soft overlong punishment, overlong filtering and dynamic sampling.

Dynamic sampling keeps only groups whose rewards are not all equal (the others have zero
group-relative advantage and give no policy gradient) and refills the batch from further samples.
`select_groups` does the selection with fixed shapes, so the loop can run under `jit`: generate a
pool of `P` groups, select the first `N` informative ones, and count the samples spent per kept
prompt as `P · G / num_informative`.

See 'DAPO: An Open-Source LLM Reinforcement Learning System at Scale' by Q. Yu et al.
(https://arxiv.org/abs/2503.14476).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from research import checks
from research.llm_rl._common import as_float, check_group_size, grouped


def overlong_penalty(lengths, *, max_len, cache_len) -> jax.Array:
  """DAPO's soft overlong punishment, a length-aware reward added to the task reward.

  .. math::

    R_{length}(y) = \\begin{cases}
      0 & |y| \\le L_{max} - L_{cache} \\\\
      \\frac{(L_{max} - L_{cache}) - |y|}{L_{cache}} & L_{max} - L_{cache} < |y| \\le L_{max} \\\\
      -1 & L_{max} < |y|
    \\end{cases}

  The penalty is continuous: it falls linearly from 0 to −1 over the last `L_cache` tokens of the
  budget and is −1 at `|y| = L_max` and beyond.

  See 'DAPO: An Open-Source LLM Reinforcement Learning System at Scale' by Q. Yu et al.
  (https://arxiv.org/abs/2503.14476), §3.4.

  Args:
    lengths: completion lengths `|y|` `[B]` (int or float).
    max_len: `L_max`.
    cache_len: `L_cache`, the length of the punishment interval (`0 < L_cache ≤ L_max`).

  Returns:
    Penalties `[B]` in `[−1, 0]`.
  """
  chex.assert_rank(lengths, 1)
  if checks.is_python_number(cache_len) and cache_len <= 0:
    raise ValueError(f"cache_len must be positive, got {cache_len}")
  if (checks.is_python_number(cache_len) and checks.is_python_number(max_len)
      and cache_len > max_len):
    raise ValueError(f"cache_len ({cache_len}) must not exceed max_len ({max_len})")
  lengths = as_float(lengths)
  soft = max_len - cache_len
  ramp = (soft - lengths) / cache_len
  return jnp.where(lengths <= soft, 0.0, jnp.where(lengths <= max_len, ramp, -1.0)).astype(
    lengths.dtype
  )


def overlong_filter_mask(mask, truncated) -> jax.Array:
  """DAPO's overlong filtering: zero the token mask of truncated completions.

  .. math::  m'_{i,t} = m_{i,t} \\, (1 - \\text{truncated}_i)

  A truncated sample then contributes nothing to a `token-mean` or `seq-mean-token-mean` loss
  (see `aggregate` for empty rows).

  See 'DAPO' by Q. Yu et al. (https://arxiv.org/abs/2503.14476), §3.4.

  Args:
    mask: float token mask `[B, L]`.
    truncated: whether each completion hit the length limit without finishing `[B]` (bool or
      0/1).

  Returns:
    The filtered mask `[B, L]`, the dtype of `mask`.
  """
  chex.assert_rank([mask, truncated], [2, 1])
  chex.assert_equal_shape_prefix([mask, truncated], 1)
  mask = jnp.asarray(mask)
  keep = jnp.logical_not(jnp.asarray(truncated).astype(bool))
  return jnp.where(keep[:, None], mask, jnp.zeros_like(mask))


def informative_groups(rewards, *, group_size) -> jax.Array:
  """Whether each group's rewards differ (DAPO's dynamic-sampling filter).

  .. math::  \\text{keep}_g = \\max_{i \\in g} R_i \\neq \\min_{i \\in g} R_i

  Exact comparison: a group whose rewards are all equal (all correct, all wrong, or a group of
  size 1) is not informative.

  See 'DAPO' by Q. Yu et al. (https://arxiv.org/abs/2503.14476), §3.2.

  Args:
    rewards: sequence rewards `[B]`, groups of `group_size` consecutive rows.
    group_size: completions per prompt `G` (static Python int).

  Returns:
    `bool[B // G]`.
  """
  chex.assert_rank(rewards, 1)
  group_size = check_group_size(group_size, rewards.shape[0])
  r = grouped(jnp.asarray(rewards), group_size)
  return r.max(axis=1) != r.min(axis=1)


def select_groups(rewards, *, group_size, num_groups):
  """Picks the first `num_groups` informative groups of a pool, with fixed output shapes.

  Given the rewards of a pool of `P` groups (`[P · G]`), returns the group indices of the
  informative groups in pool order, followed (when fewer than `N = num_groups` are informative) by
  the first non-informative groups, so all `N` indices are distinct and in range. `valid` marks the
  informative ones. Non-informative groups have zero group-relative advantage, so padding with them
  adds no policy gradient; still, weight or mask them by `valid` where it matters (KL terms,
  normalisers), or refill from a further pool. `num_informative` (over the whole pool) gives the
  samples spent per kept prompt, `P · G / num_informative`.

  See 'DAPO' by Q. Yu et al. (https://arxiv.org/abs/2503.14476), §3.2.

  Args:
    rewards: sequence rewards of the pool `[P · G]`.
    group_size: completions per prompt `G` (static Python int).
    num_groups: groups wanted `N ≤ P` (static Python int).

  Returns:
    `(indices, valid, num_informative)`: group indices `int32[N]`, `bool[N]`, and the number of
    informative groups in the pool, an `int32` scalar. Expand group indices to sample indices with
    `group_sample_indices`.
  """
  chex.assert_rank(rewards, 1)
  group_size = check_group_size(group_size, rewards.shape[0])
  pool = rewards.shape[0] // group_size
  num_groups = checks.static_int(num_groups, "num_groups")
  if num_groups > pool:
    raise ValueError(f"num_groups must be in [1, {pool}] (the pool's groups), got {num_groups}")
  keep = informative_groups(rewards, group_size=group_size)
  order = jnp.argsort(jnp.logical_not(keep).astype(jnp.int32), stable=True)
  indices = order[:num_groups].astype(jnp.int32)
  num_informative = keep.sum(dtype=jnp.int32)
  valid = jnp.arange(num_groups, dtype=jnp.int32) < num_informative
  return indices, valid, num_informative


def group_sample_indices(group_indices, *, group_size) -> jax.Array:
  """Sample (row) indices of whole groups: `[N]` group indices to `[N · G]` row indices.

  .. math::  \\text{rows} = (g_k \\cdot G + j)_{k < N, j < G}

  Args:
    group_indices: group indices `[N]` (int).
    group_size: completions per prompt `G` (static Python int).

  Returns:
    Row indices `int32[N · G]`, groups consecutive.
  """
  chex.assert_rank(group_indices, 1)
  group_size = checks.static_int(group_size, "group_size")
  rows = jnp.asarray(group_indices, jnp.int32)[:, None] * group_size
  return (rows + jnp.arange(group_size, dtype=jnp.int32)).reshape(-1)
