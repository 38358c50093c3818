"""Tabular TD agents on a `TabularMDP`: ε-greedy behaviour and whole episodes in a `lax.scan`.

Every runner is a pure function of a key and a table (`v[S]` or `q[S, A]`) that returns the
updated table and `EpisodeStats`. An episode is a `lax.scan` of exactly `max_steps` steps: it
starts in `start_state` and ends when it enters a state of `terminal_mask` (a `bool[S]`; all
false for a continuing task, which the runner then truncates at `max_steps`). Steps after the end
are masked no-ops, so runners `vmap` over keys, step sizes and exploration rates (`alpha`,
`epsilon` may be traced scalars) and `jit` once per `max_steps`.

The MDP is sampled: the reward of `(s, a)` is `R[s, a]` (the expected reward, exact for the
deterministic grid world) and the next state is drawn from `P[s, a, ·]`. A transition into a
terminal state has `discount_t = 0`, otherwise `discount_t = γ`; truncation at `max_steps` is not
termination (the last update bootstraps). Updates are `table.at[s, a].add(α δ)` with `δ` from
`research.rl.td`.

See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 7
(https://github.com/MathFoundationRL/Book-Mathematical-Foundation-of-Reinforcement-Learning) and
'Reinforcement Learning: An Introduction' (2nd ed.) by R. S. Sutton and A. G. Barto, ch. 6-7
(http://incompleteideas.net/book/the-book-2nd.html).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from research import checks
from research.rl import td
from research.rl.mdp import TabularMDP, _as_arrays, validate_mdp, validate_policy


class EpisodeStats(NamedTuple):
  """Statistics of one episode (or of one stretch of a continuing task).

  Attributes:
    length: the number of transitions taken (int32 scalar).
    return_: the undiscounted sum of rewards (the book's "total reward"), scalar.
    terminated: whether a terminal state was entered (bool scalar).
  """

  length: jax.Array
  return_: jax.Array
  terminated: jax.Array


class Trajectory(NamedTuple):
  """Transitions `(s_t, a_t, r_{t+1}, s_{t+1})` of a continuing run, each `[T]`.

  Attributes:
    states: `s_t`, int32.
    actions: `a_t`, int32.
    rewards: `r_{t+1} = R[s_t, a_t]`.
    next_states: `s_{t+1}`, int32.
    discounts: `discount_t` of each transition (γ for a continuing task).
  """

  states: jax.Array
  actions: jax.Array
  rewards: jax.Array
  next_states: jax.Array
  discounts: jax.Array


# ---------------------------------------------------------------------------------------------
# Behaviour policies.
# ---------------------------------------------------------------------------------------------


def epsilon_greedy_probs(q, epsilon) -> jax.Array:
  """The ε-greedy distribution of `q`, greedy mass shared evenly among tied maxima.

      π(a) = ε / A + (1 − ε) · 1[q[a] = max q] / |argmax q|

  See 'Reinforcement Learning: An Introduction' (2nd ed.) by R. S. Sutton and A. G. Barto,
  ch. 5.4 (http://incompleteideas.net/book/the-book-2nd.html).

  Args:
    q: action values `[A]`.
    epsilon: exploration rate in `[0, 1]`, scalar (may be traced).

  Returns:
    Probabilities `[A]`.
  """
  if jnp.ndim(q) != 1:
    raise ValueError(f"q must have rank 1 [A], got shape {list(jnp.shape(q))}")
  q = jnp.asarray(q)
  dtype = jnp.result_type(q, float)
  is_max = (q == jnp.max(q)).astype(dtype)
  greedy = is_max / jnp.sum(is_max)
  num_actions = q.shape[0]
  return epsilon / num_actions + (1.0 - epsilon) * greedy


def epsilon_greedy(key, q, epsilon) -> jax.Array:
  """Samples an ε-greedy action: uniform with probability ε, else greedy.

  Ties between maximal values are broken uniformly at random (so a table initialised to zeros
  explores instead of always taking action 0); `research.rng.epsilon_greedy_from_uniform`, for
  network outputs, sends ties to the lowest index.

      P(a) = ε / A + (1 − ε) · 1[q[a] = max q] / |argmax q|

  See 'Reinforcement Learning: An Introduction' (2nd ed.) by R. S. Sutton and A. G. Barto,
  ch. 2.2 (http://incompleteideas.net/book/the-book-2nd.html).

  Args:
    key: a PRNG key.
    q: action values `[A]`.
    epsilon: exploration rate in `[0, 1]`, scalar (may be traced).

  Returns:
    An int32 action index.
  """
  return _sample(jax.random.uniform(key), epsilon_greedy_probs(q, epsilon))


def _sample(u, probs):
  """Inverse-CDF sampling: the index `i` with `cdf[i−1] ≤ u · cdf[−1] < cdf[i]`, `u ~ U[0, 1)`.

  Scaling by the total keeps the index on a positive-probability entry even when float rows sum
  to slightly less than one. One uniform per draw is much cheaper inside a scan than a key split.
  Rows here are short (the actions or states of a tabular MDP), so `jnp.cumsum` is used: on
  XLA:CPU it compiles faster than `lax.associative_scan`, and its O(N²) lowering on long axes
  (measured for this JAX version) does not matter at N ≤ a few hundred.
  """
  cdf = jnp.cumsum(probs)
  u = jnp.asarray(u, cdf.dtype)
  return jnp.sum(cdf <= u * cdf[-1]).astype(jnp.int32)


def _uniforms(key, num_steps, num_draws, dtype):
  """All the uniforms of a run at once, `[num_steps, num_draws]`."""
  return jax.random.uniform(key, (num_steps, num_draws), dtype)


# ---------------------------------------------------------------------------------------------
# Argument checks.
# ---------------------------------------------------------------------------------------------


def _check_table(table, shape, name):
  if tuple(jnp.shape(table)) != tuple(shape):
    raise ValueError(f"{name} must have shape {list(shape)}, got {list(jnp.shape(table))}")


def _check_episode_args(mdp, table, table_name, terminal_mask, start_state, max_steps, q=True):
  num_states, num_actions = validate_mdp(mdp)
  _check_table(table, (num_states, num_actions) if q else (num_states,), table_name)
  _check_table(terminal_mask, (num_states,), "terminal_mask")
  if jnp.ndim(start_state) != 0:
    raise ValueError(f"start_state must be a scalar, got shape {list(jnp.shape(start_state))}")
  max_steps = checks.static_int(max_steps, "max_steps")
  return num_states, num_actions, max_steps


def _table_dtype(table):
  return jnp.result_type(table, float)


def _init_stats(table):
  dtype = _table_dtype(table)
  return jnp.zeros((), jnp.int32), jnp.zeros((), dtype)


def _env_step(u, mdp, s, a, terminal_mask):
  """Samples `s' ~ P[s, a]` with the uniform `u`; returns `(r, s', terminal', discount_t)`."""
  transitions, rewards, discount = mdp
  s2 = _sample(u, transitions[s, a])
  term = terminal_mask[s2]
  return rewards[s, a], s2, term, discount * (1.0 - term.astype(rewards.dtype))


def _stats(length, ret, done):
  return EpisodeStats(length, ret, done)


# ---------------------------------------------------------------------------------------------
# Episode runners: arguments checked at the top (the scan length is a static Python int), then
# one `lax.scan`; jit them from outside.
# ---------------------------------------------------------------------------------------------


def _prepare(mdp, table, terminal_mask, start_state):
  dtype = _table_dtype(table)
  return (
    _as_arrays(mdp),
    jnp.asarray(table, dtype),
    jnp.asarray(terminal_mask, bool),
    jnp.asarray(start_state, jnp.int32),
  )


def _advance(active, s, s2, done, term, length, ret, r):
  """Episode bookkeeping; a finished episode stays where it is."""
  return (
    jnp.where(active, s2, s),
    done | (active & term),
    length + active,
    ret + jnp.where(active, r, 0.0),
  )


def td0_episode(key, v, mdp: TabularMDP, policy, start_state, terminal_mask, *, alpha, max_steps):
  """One episode of TD(0) evaluation of a given policy.

      a_t ~ π(·|s_t),   v(s_t) ← v(s_t) + α [r_{t+1} + γ_{t+1} v(s_{t+1}) − v(s_t)]

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 7.1.

  Args:
    key: a PRNG key.
    v: state values `[S]`.
    mdp: a `TabularMDP`.
    policy: the evaluated policy `π[s, a]`, `[S, A]`.
    start_state: int scalar.
    terminal_mask: `bool[S]`, states that end the episode.
    alpha: step size, scalar (may be traced).
    max_steps: the scan length (a Python int).

  Returns:
    `(v [S], EpisodeStats)`.
  """
  num_states, num_actions, max_steps = _check_episode_args(
    mdp, v, "v", terminal_mask, start_state, max_steps, q=False
  )
  validate_policy(policy, num_states, num_actions)
  mdp, v, terminal_mask, s0 = _prepare(mdp, v, terminal_mask, start_state)
  policy, alpha = jnp.asarray(policy), jnp.asarray(alpha)

  def step(carry, u):
    v, s, done, length, ret = carry
    active = ~done
    a = _sample(u[0], policy[s])
    r, s2, term, discount_t = _env_step(u[1], mdp, s, a, terminal_mask)
    delta = td.td_learning(v[s], r, discount_t, v[s2])
    v = v.at[s].add(jnp.where(active, alpha * delta, 0.0))
    return (v, *_advance(active, s, s2, done, term, length, ret, r)), None

  init = (v, s0, terminal_mask[s0], *_init_stats(v))
  uniforms = _uniforms(key, max_steps, 2, v.dtype)
  (v, _, done, length, ret), _ = jax.lax.scan(step, init, uniforms)
  return v, _stats(length, ret, done)


def sarsa_episode(
  key, q, mdp: TabularMDP, start_state, terminal_mask, *, alpha, epsilon, max_steps
):
  """One episode of Sarsa with an ε-greedy behaviour (on-policy TD control).

      a_{t+1} ~ ε-greedy(q(s_{t+1}, ·)),
      q(s_t, a_t) ← q(s_t, a_t) + α [r_{t+1} + γ_{t+1} q(s_{t+1}, a_{t+1}) − q(s_t, a_t)]

  The next action is chosen before the update, as in the book's pseudo-code.

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 7.2.

  Args:
    key: a PRNG key.
    q: action values `[S, A]`.
    mdp: a `TabularMDP`.
    start_state: int scalar.
    terminal_mask: `bool[S]`, states that end the episode.
    alpha: step size, scalar (may be traced).
    epsilon: exploration rate, scalar (may be traced).
    max_steps: the scan length (a Python int).

  Returns:
    `(q [S, A], EpisodeStats)`.
  """
  _, _, max_steps = _check_episode_args(mdp, q, "q", terminal_mask, start_state, max_steps)
  mdp, q, terminal_mask, s0 = _prepare(mdp, q, terminal_mask, start_state)
  alpha, epsilon = jnp.asarray(alpha), jnp.asarray(epsilon)

  def step(carry, u):
    q, s, a, done, length, ret = carry
    active = ~done
    r, s2, term, discount_t = _env_step(u[0], mdp, s, a, terminal_mask)
    a2 = _sample(u[1], epsilon_greedy_probs(q[s2], epsilon))
    delta = td.sarsa(q[s], a, r, discount_t, q[s2], a2)
    q = q.at[s, a].add(jnp.where(active, alpha * delta, 0.0))
    s, done, length, ret = _advance(active, s, s2, done, term, length, ret, r)
    return (q, s, jnp.where(active, a2, a), done, length, ret), None

  uniforms = _uniforms(key, max_steps + 1, 2, q.dtype)   # row 0 picks a_0 (one RNG site)
  a0 = _sample(uniforms[0, 0], epsilon_greedy_probs(q[s0], epsilon))
  uniforms = uniforms[1:]
  init = (q, s0, a0, terminal_mask[s0], *_init_stats(q))
  (q, _, _, done, length, ret), _ = jax.lax.scan(step, init, uniforms)
  return q, _stats(length, ret, done)


def n_step_sarsa_episode(
  key, q, mdp: TabularMDP, start_state, terminal_mask, *, n, alpha, epsilon, max_steps
):
  """One episode of n-step Sarsa with an ε-greedy behaviour.

      G_{τ:τ+n} = Σ_{k<n} γ^k r_{τ+k+1} + γ^n q(s_{τ+n}, a_{τ+n}),
      q(s_τ, a_τ) ← q(s_τ, a_τ) + α [G_{τ:τ+n} − q(s_τ, a_τ)]

  The last `n` transitions are kept in a window inside the scan; `(s_τ, a_τ)` is updated at
  step `τ + n − 1`, once `a_{τ+n}` has been chosen (with the `q` of that moment). When the episode
  terminates, every pending pair is updated in order with its truncated (non-bootstrapped)
  return; when it is cut at `max_steps` they are updated with returns that bootstrap from
  `q(s_T, a_T)`. With the same key, `n = 1` takes the same actions and updates as
  `sarsa_episode`.

  See 'Reinforcement Learning: An Introduction' (2nd ed.) by R. S. Sutton and A. G. Barto,
  ch. 7.2 (http://incompleteideas.net/book/the-book-2nd.html), and 'Mathematical Foundations of
  Reinforcement Learning' by S. Zhao, ch. 7.4.

  Args:
    key: a PRNG key.
    q: action values `[S, A]`.
    mdp: a `TabularMDP`.
    start_state: int scalar.
    terminal_mask: `bool[S]`, states that end the episode.
    n: the number of steps (a Python int ≥ 1).
    alpha: step size, scalar (may be traced).
    epsilon: exploration rate, scalar (may be traced).
    max_steps: the scan length (a Python int).

  Returns:
    `(q [S, A], EpisodeStats)`.
  """
  _, _, max_steps = _check_episode_args(mdp, q, "q", terminal_mask, start_state, max_steps)
  n = checks.static_int(n, "n")
  mdp, q, terminal_mask, s0 = _prepare(mdp, q, terminal_mask, start_state)
  alpha, epsilon = jnp.asarray(alpha), jnp.asarray(epsilon)
  dtype = q.dtype
  discount = jnp.asarray(mdp.discount, dtype)
  # weights[i, j] = γ^(j − i) for j ≥ i: the discounted reward sum from window slot i on.
  offsets = np.arange(n)[None, :] - np.arange(n)[:, None]
  weights = jnp.where(offsets >= 0, discount ** jnp.asarray(np.maximum(offsets, 0), dtype), 0.0)
  # The bootstrap discount from slot i: γ^(n − i).
  boot_powers = discount ** jnp.asarray(n - np.arange(n), dtype)

  def step(carry, xs):
    q, s, a, done, length, ret, buf_s, buf_a, buf_r, buf_valid = carry
    t, u = xs
    active = ~done
    r, s2, term, _ = _env_step(u[0], mdp, s, a, terminal_mask)
    a2 = _sample(u[1], epsilon_greedy_probs(q[s2], epsilon))

    # Push (s_t, a_t, r_{t+1}) as the newest entry (slot n − 1); slot 0 is the oldest.
    buf_s = jnp.concatenate([buf_s[1:], s[None]])
    buf_a = jnp.concatenate([buf_a[1:], a[None]])
    buf_r = jnp.concatenate([buf_r[1:], r[None]])
    buf_valid = jnp.concatenate([buf_valid[1:], active[None]])
    reward_sums = weights @ buf_r
    not_term = 1.0 - term.astype(dtype)

    def update(i, q):
      """`q(s_i, a_i) += α (G_i − q(s_i, a_i))` for window slot i, reading the current `q`."""
      delta = td.td_learning(
        q[buf_s[i], buf_a[i]], reward_sums[i], boot_powers[i] * not_term, q[s2, a2]
      )
      return q.at[buf_s[i], buf_a[i]].add(jnp.where(buf_valid[i], alpha * delta, 0.0))

    # Slot 0 (valid once the window is full) has a complete n-step return: update it. When the
    # episode ends here (terminal, or cut at max_steps), update every pending pair, oldest first,
    # each with the rewards up to now (and the bootstrap unless terminal).
    flush = active & (term | (t == max_steps - 1))
    q = jax.lax.fori_loop(0, jnp.where(flush, n, 1), update, q)
    buf_valid = jnp.where(flush, False, buf_valid.at[0].set(False))

    s, done, length, ret = _advance(active, s, s2, done, term, length, ret, r)
    a = jnp.where(active, a2, a)
    return (q, s, a, done, length, ret, buf_s, buf_a, buf_r, buf_valid), None

  uniforms = _uniforms(key, max_steps + 1, 2, dtype)   # row 0 picks a_0 (one RNG site)
  a0 = _sample(uniforms[0, 0], epsilon_greedy_probs(q[s0], epsilon))
  uniforms = uniforms[1:]
  buffers = (
    jnp.zeros((n,), jnp.int32),
    jnp.zeros((n,), jnp.int32),
    jnp.zeros((n,), dtype),
    jnp.zeros((n,), bool),
  )
  init = (q, s0, a0, terminal_mask[s0], *_init_stats(q), *buffers)
  carry, _ = jax.lax.scan(step, init, (jnp.arange(max_steps), uniforms))
  q, _, _, done, length, ret, *_ = carry
  return q, _stats(length, ret, done)


def _expected_sarsa_target(q_tm1, a_tm1, r_t, discount_t, q_t, epsilon):
  probs = epsilon_greedy_probs(q_t, epsilon).astype(q_t.dtype)
  return td.expected_sarsa(q_tm1, a_tm1, r_t, discount_t, q_t, probs)


def _q_learning_target(q_tm1, a_tm1, r_t, discount_t, q_t, epsilon):
  del epsilon
  return td.q_learning(q_tm1, a_tm1, r_t, discount_t, q_t)


def _epsilon_greedy_control(target_fn, key, q, mdp, s0, terminal_mask, alpha, epsilon, max_steps):
  """Q-learning and Expected Sarsa: act ε-greedily on the current `q`, then update `q(s, a)` by
  `α` times `target_fn`'s TD error (the scan shared by the two runners, on checked arguments)."""

  def step(carry, u):
    q, s, done, length, ret = carry
    active = ~done
    a = _sample(u[0], epsilon_greedy_probs(q[s], epsilon))
    r, s2, term, discount_t = _env_step(u[1], mdp, s, a, terminal_mask)
    delta = target_fn(q[s], a, r, discount_t, q[s2], epsilon)
    q = q.at[s, a].add(jnp.where(active, alpha * delta, 0.0))
    return (q, *_advance(active, s, s2, done, term, length, ret, r)), None

  init = (q, s0, terminal_mask[s0], *_init_stats(q))
  uniforms = _uniforms(key, max_steps, 2, q.dtype)
  (q, _, done, length, ret), _ = jax.lax.scan(step, init, uniforms)
  return q, _stats(length, ret, done)


def expected_sarsa_episode(
  key, q, mdp: TabularMDP, start_state, terminal_mask, *, alpha, epsilon, max_steps
):
  """One episode of Expected Sarsa with an ε-greedy behaviour (and ε-greedy target policy).

      a_t ~ ε-greedy(q(s_t, ·)),
      q(s_t, a_t) ← q(s_t, a_t) + α [r_{t+1} + γ_{t+1} Σ_a π_ε(a|s_{t+1}) q(s_{t+1}, a)
                                     − q(s_t, a_t)]

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 7.3.

  Args:
    key: a PRNG key.
    q: action values `[S, A]`.
    mdp: a `TabularMDP`.
    start_state: int scalar.
    terminal_mask: `bool[S]`, states that end the episode.
    alpha: step size, scalar (may be traced).
    epsilon: exploration rate of behaviour and target policy, scalar (may be traced).
    max_steps: the scan length (a Python int).

  Returns:
    `(q [S, A], EpisodeStats)`.
  """
  _, _, max_steps = _check_episode_args(mdp, q, "q", terminal_mask, start_state, max_steps)
  mdp, q, terminal_mask, s0 = _prepare(mdp, q, terminal_mask, start_state)
  alpha, epsilon = jnp.asarray(alpha), jnp.asarray(epsilon)
  return _epsilon_greedy_control(
    _expected_sarsa_target, key, q, mdp, s0, terminal_mask, alpha, epsilon, max_steps
  )


def q_learning_episode(
  key, q, mdp: TabularMDP, start_state, terminal_mask, *, alpha, epsilon, max_steps
):
  """One episode of on-policy Q-learning: ε-greedy behaviour, greedy target.

      a_t ~ ε-greedy(q(s_t, ·)),
      q(s_t, a_t) ← q(s_t, a_t) + α [r_{t+1} + γ_{t+1} max_a q(s_{t+1}, a) − q(s_t, a_t)]

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 7.4.

  Args:
    key: a PRNG key.
    q: action values `[S, A]`.
    mdp: a `TabularMDP`.
    start_state: int scalar.
    terminal_mask: `bool[S]`, states that end the episode.
    alpha: step size, scalar (may be traced).
    epsilon: exploration rate, scalar (may be traced).
    max_steps: the scan length (a Python int).

  Returns:
    `(q [S, A], EpisodeStats)`.
  """
  _, _, max_steps = _check_episode_args(mdp, q, "q", terminal_mask, start_state, max_steps)
  mdp, q, terminal_mask, s0 = _prepare(mdp, q, terminal_mask, start_state)
  alpha, epsilon = jnp.asarray(alpha), jnp.asarray(epsilon)
  return _epsilon_greedy_control(
    _q_learning_target, key, q, mdp, s0, terminal_mask, alpha, epsilon, max_steps
  )


# ---------------------------------------------------------------------------------------------
# Off-policy learning from a behaviour policy's trajectory.
# ---------------------------------------------------------------------------------------------


def sample_trajectory(key, mdp: TabularMDP, policy, start_state, *, num_steps) -> Trajectory:
  """Runs a policy for `num_steps` steps of the continuing task from `start_state`.

      a_t ~ π(·|s_t),   r_{t+1} = R[s_t, a_t],   s_{t+1} ~ P[s_t, a_t, ·]

  Args:
    key: a PRNG key.
    mdp: a `TabularMDP`.
    policy: the behaviour policy `[S, A]`.
    start_state: int scalar.
    num_steps: the number of transitions (a Python int).

  Returns:
    A `Trajectory` of `[num_steps]` arrays, discounts all `γ`.
  """
  num_states, num_actions = validate_mdp(mdp)
  validate_policy(policy, num_states, num_actions)
  num_steps = checks.static_int(num_steps, "num_steps")
  if jnp.ndim(start_state) != 0:
    raise ValueError(f"start_state must be a scalar, got shape {list(jnp.shape(start_state))}")
  s0 = jnp.asarray(start_state, jnp.int32)
  transitions, rewards, discount = _as_arrays(mdp)
  policy = jnp.asarray(policy)

  def step(s, u):
    a = _sample(u[0], policy[s])
    s2 = _sample(u[1], transitions[s, a])
    return s2, (s, a, rewards[s, a], s2)

  uniforms = _uniforms(key, num_steps, 2, jnp.result_type(transitions, float))
  _, (states, actions, rs, next_states) = jax.lax.scan(step, s0, uniforms)
  discounts = jnp.full((num_steps,), discount, rs.dtype)
  return Trajectory(states, actions, rs, next_states, discounts)


def _scan_trajectory(update, table, trajectory, alpha, *, name, layout):
  """`table ← update(table, transition, α)` over a fixed trajectory's transitions, in order."""
  rank = len(layout.split(","))
  if jnp.ndim(table) != rank:
    raise ValueError(f"{name} must have rank {rank} [{layout}], got shape "
                     f"{list(jnp.shape(table))}")
  table = jnp.asarray(table, _table_dtype(table))
  trajectory = Trajectory(*(jnp.asarray(x) for x in trajectory))
  alpha = jnp.asarray(alpha)
  table, _ = jax.lax.scan(lambda t, x: (update(t, x, alpha), None), table, tuple(trajectory))
  return table


def td0_from_trajectory(v, trajectory: Trajectory, *, alpha):
  """TD(0) evaluation over a fixed trajectory, one update per transition in order.

      v(s_t) ← v(s_t) + α [r_{t+1} + discount_t v(s_{t+1}) − v(s_t)]

  The trajectory's behaviour policy is the evaluated one (on-policy, as in `td0_episode`, but
  on a continuing task: `sample_trajectory` does not stop at terminal states).

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 7.1.

  Args:
    v: state values `[S]`.
    trajectory: a `Trajectory` of `[T]` arrays.
    alpha: step size, scalar (may be traced).

  Returns:
    The updated `v` `[S]`.
  """
  def update(v, x, alpha):
    s, _, r, s2, discount_t = x
    delta = td.td_learning(v[s], r.astype(v.dtype), discount_t.astype(v.dtype), v[s2])
    return v.at[s].add(alpha * delta)

  return _scan_trajectory(update, v, trajectory, alpha, name="v", layout="S")


def q_learning_from_trajectory(q, trajectory: Trajectory, *, alpha):
  """Off-policy Q-learning over a fixed trajectory, one update per transition in order.

      q(s_t, a_t) ← q(s_t, a_t) + α [r_{t+1} + discount_t max_a q(s_{t+1}, a) − q(s_t, a_t)]

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 7.4 (off-policy
  Q-learning on the grid world).

  Args:
    q: action values `[S, A]`.
    trajectory: a `Trajectory` of `[T]` arrays.
    alpha: step size, scalar (may be traced).

  Returns:
    The updated `q` `[S, A]`.
  """
  def update(q, x, alpha):
    s, a, r, s2, discount_t = x
    delta = td.q_learning(q[s], a, r.astype(q.dtype), discount_t.astype(q.dtype), q[s2])
    return q.at[s, a].add(alpha * delta)

  return _scan_trajectory(update, q, trajectory, alpha, name="q", layout="S, A")


def q_learning_offpolicy(
  key, q, mdp: TabularMDP, behaviour_policy, start_state, *, alpha, num_steps
):
  """Off-policy Q-learning from one long run of a behaviour policy (a continuing task).

  Samples `num_steps` transitions with `behaviour_policy` (`sample_trajectory`) and applies
  `q_learning_from_trajectory`. The book's example: a uniform behaviour policy, 100,000 steps,
  α = 0.1 on the grid world; the greedy policy of the learned `q` is optimal.

  See 'Mathematical Foundations of Reinforcement Learning' by S. Zhao, ch. 7.4.

  Args:
    key: a PRNG key.
    q: action values `[S, A]`.
    mdp: a `TabularMDP`.
    behaviour_policy: `[S, A]`.
    start_state: int scalar.
    alpha: step size, scalar (may be traced).
    num_steps: the number of transitions (a Python int).

  Returns:
    `(q [S, A], EpisodeStats)` (length `num_steps`, never terminated).
  """
  num_states, num_actions = validate_mdp(mdp)
  _check_table(q, (num_states, num_actions), "q")
  trajectory = sample_trajectory(key, mdp, behaviour_policy, start_state, num_steps=num_steps)
  q = q_learning_from_trajectory(q, trajectory, alpha=alpha)
  stats = EpisodeStats(
    jnp.asarray(num_steps, jnp.int32), jnp.sum(trajectory.rewards), jnp.zeros((), bool)
  )
  return q, stats


# ---------------------------------------------------------------------------------------------
# Reading out a learned table.
# ---------------------------------------------------------------------------------------------


def greedy_path(q, mdp: TabularMDP, start_state, terminal_mask, *, max_steps):
  """Follows the greedy policy of `q` (lowest index on ties) along the most likely transitions.

  For a deterministic MDP (the grid world) this is the path the greedy policy takes.

  Args:
    q: action values `[S, A]`.
    mdp: a `TabularMDP`.
    start_state: int scalar.
    terminal_mask: `bool[S]`.
    max_steps: the most steps (a Python int).

  Returns:
    `(states [max_steps + 1], reached)`: the visited states (repeating the terminal state once
    reached) and whether a terminal state was reached.
  """
  _, _, max_steps = _check_episode_args(mdp, q, "q", terminal_mask, start_state, max_steps)
  q = jnp.asarray(q)
  transitions = jnp.asarray(mdp.transitions)
  terminal_mask = jnp.asarray(terminal_mask, bool)
  s0 = jnp.asarray(start_state, jnp.int32)

  def step(carry, _):
    s, done = carry
    a = jnp.argmax(q[s])
    s2 = jnp.argmax(transitions[s, a]).astype(jnp.int32)
    s2 = jnp.where(done, s, s2)
    return (s2, done | terminal_mask[s2]), s2

  (_, reached), states = jax.lax.scan(step, (s0, terminal_mask[s0]), None, length=max_steps)
  return jnp.concatenate([s0[None], states]), reached
