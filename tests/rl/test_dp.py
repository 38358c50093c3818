"""Bellman operators and dynamic programming against NumPy float64 brute force and the book."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research import rl

# Zhao, 'Mathematical Foundations of RL', Fig. 3.4: optimal state values, γ = 0.9, r_forbidden = −1.
BOOK_FIG_3_4 = np.array(
  [
    [5.8, 5.6, 6.2, 6.5, 5.8],
    [6.5, 7.2, 8.0, 7.2, 6.5],
    [7.2, 8.0, 10.0, 8.0, 7.2],
    [8.0, 10.0, 10.0, 10.0, 8.0],
    [7.2, 9.0, 10.0, 9.0, 8.1],
  ]
)

GRID_CASES = [(g, rf) for g in (0.9, 0.5, 0.0) for rf in (-1.0, -10.0)]


# --- NumPy float64 references -------------------------------------------------------------------


def np_arrays(mdp):
  return (
    np.asarray(mdp.transitions, np.float64),
    np.asarray(mdp.rewards, np.float64),
    float(np.asarray(mdp.discount, np.float64)),
  )


def np_value_iteration(mdp, tol=1e-13):
  """Brute-force float64 value iteration, run to machine precision."""
  p, r, g = np_arrays(mdp)
  v = np.zeros(r.shape[0])
  for _ in range(100_000):
    v_new = (r + g * p @ v).max(axis=1)
    if np.max(np.abs(v_new - v)) < tol:
      return v_new
    v = v_new
  raise AssertionError("reference value iteration did not converge")


def np_policy_value(mdp, policy):
  p, r, g = np_arrays(mdp)
  policy = np.asarray(policy, np.float64)
  p_pi = np.einsum("sa,sat->st", policy, p)
  r_pi = (policy * r).sum(1)
  return np.linalg.solve(np.eye(r.shape[0]) - g * p_pi, r_pi)


def np_q(mdp, v):
  p, r, g = np_arrays(mdp)
  return r + g * p @ v


def np_greedy(mdp, v, tie=1e-9):
  q = np_q(mdp, v)
  return np.argmax(q >= q.max(1, keepdims=True) - tie, axis=1)


@functools.cache
def grid_reference(discount, r_forbidden):
  mdp = rl.gridworld(discount=discount, r_forbidden=r_forbidden)
  v_star = np_value_iteration(mdp)
  return mdp, v_star, np_greedy(mdp, v_star)


# --- Bellman operators --------------------------------------------------------------------------


def two_state_mdp(discount=0.5):
  # s0: a0 stays (r = 1), a1 goes to s1 (r = 0); s1: a0 back to s0 (r = 2), a1 half/half (r = -1).
  p = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.5, 0.5]]], np.float32)
  r = np.array([[1.0, 0.0], [2.0, -1.0]], np.float32)
  return rl.TabularMDP(p, r, discount)


def test_bellman_operators_hand_computed():
  mdp = two_state_mdp(0.5)
  v = jnp.array([2.0, 4.0])
  # q = R + 0.5 P v: [[1 + 1, 0 + 2], [2 + 1, -1 + 0.5 * 3]]
  q = rl.q_values(mdp, v)
  np.testing.assert_allclose(q, [[2.0, 2.0], [3.0, 0.5]], rtol=1e-6)
  policy = jnp.array([[0.25, 0.75], [0.5, 0.5]])
  np.testing.assert_allclose(rl.bellman_expectation(mdp, policy, v), [2.0, 1.75], rtol=1e-6)
  np.testing.assert_allclose(rl.bellman_optimality(mdp, v), [2.0, 3.0], rtol=1e-6)
  # Tie in state 0 breaks to the lowest index.
  np.testing.assert_array_equal(rl.greedy_policy(q), [[1.0, 0.0], [1.0, 0.0]])
  # Exact evaluation of "a1 in s0, a0 in s1": v0 = 0.5 v1, v1 = 2 + 0.5 v0, so v = (4/3, 8/3).
  det = jnp.array([[0.0, 1.0], [1.0, 0.0]])
  np.testing.assert_allclose(rl.policy_evaluation(mdp, det), [4 / 3, 8 / 3], rtol=1e-6)


def test_greedy_policy_tie_tolerance():
  q = jnp.array([[1.0, 1.0 + 1e-7, 0.0], [0.0, 3.0, 3.0]])
  np.testing.assert_array_equal(jnp.argmax(rl.greedy_policy(q), -1), [1, 1])
  np.testing.assert_array_equal(jnp.argmax(rl.greedy_policy(q, tie_tol=1e-5), -1), [0, 1])


def test_policy_evaluation_is_a_fixed_point_and_matches_numpy():
  mdp = rl.random_mdp(jax.random.key(0), 20, 4, discount=0.95)
  policy = np.random.default_rng(1).dirichlet(np.ones(4), 20).astype(np.float32)
  v = rl.policy_evaluation(mdp, policy)
  np.testing.assert_allclose(v, np_policy_value(mdp, policy), rtol=1e-4)
  np.testing.assert_allclose(rl.bellman_expectation(mdp, policy, v), v, rtol=1e-4)


def test_policy_evaluation_discount_zero_is_expected_reward():
  mdp = rl.random_mdp(jax.random.key(2), 20, 4, discount=0.0)
  policy = np.random.default_rng(3).dirichlet(np.ones(4), 20).astype(np.float32)
  np.testing.assert_allclose(
    rl.policy_evaluation(mdp, policy), (policy * mdp.rewards).sum(-1), rtol=1e-6
  )


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), discount=st.floats(0.0, 0.99))
def test_bellman_optimality_is_a_contraction(seed, discount):
  mdp = rl.random_mdp(jax.random.key(0), 20, 4)._replace(discount=jnp.float32(discount))
  u, w = 10 * np.random.default_rng(seed).normal(size=(2, 20)).astype(np.float32)
  lhs = jnp.max(jnp.abs(rl.bellman_optimality(mdp, u) - rl.bellman_optimality(mdp, w)))
  assert float(lhs) <= discount * float(jnp.max(jnp.abs(u - w))) + 1e-4


# --- The grid world -----------------------------------------------------------------------------


@pytest.mark.parametrize(
  "solve",
  [
    rl.value_iteration,
    rl.policy_iteration,
    functools.partial(rl.truncated_policy_iteration, eval_sweeps=5),
  ],
  ids=["vi", "pi", "tpi"],
)
def test_book_fig_3_4_literally(solve):
  result = solve(rl.gridworld())
  values = np.asarray(rl.values_to_grid(result.values)).astype(np.float64)
  # The book prints one decimal: every entry must round to the printed number.
  np.testing.assert_array_equal(np.round(values, 1), BOOK_FIG_3_4)
  assert np.max(np.abs(values - BOOK_FIG_3_4)) <= 0.05 + 1e-4
  assert bool(result.converged)


@pytest.mark.parametrize("discount, r_forbidden", GRID_CASES)
def test_grid_optimal_values_and_policies_match_brute_force(discount, r_forbidden):
  mdp, v_star, greedy = grid_reference(discount, r_forbidden)
  results = {
    "vi": rl.value_iteration(mdp),
    "tpi": rl.truncated_policy_iteration(mdp, eval_sweeps=5),
    "pi": rl.policy_iteration(mdp),
  }
  for name, result in results.items():
    assert bool(result.converged), name
    # Far tighter than the book's printed precision (0.1).
    np.testing.assert_allclose(result.values, v_star, atol=1e-4, err_msg=name)
    # The same greedy policy (lowest index among tied actions) as the float64 reference.
    np.testing.assert_array_equal(np.argmax(result.policy, -1), greedy, err_msg=name)
    np.testing.assert_allclose(
      rl.policy_evaluation(mdp, result.policy), v_star, atol=1e-4, err_msg=name
    )
  assert int(results["vi"].iterations) >= int(results["tpi"].iterations)
  assert int(results["tpi"].iterations) >= int(results["pi"].iterations)


def test_grid_discount_zero_is_one_step_greedy():
  mdp, v_star, _ = grid_reference(0.0, -1.0)
  np.testing.assert_allclose(v_star, np.asarray(mdp.rewards).max(-1))
  for result in (rl.value_iteration(mdp), rl.policy_iteration(mdp)):
    np.testing.assert_allclose(result.values, v_star)
    assert int(result.iterations) == 2  # one update, one that confirms


def test_grid_policy_iteration_iterations_forbidden_minus_10():
  result = rl.policy_iteration(rl.gridworld(r_forbidden=-10.0))
  # The book: "about ten iterations" (the count includes the final, confirming update).
  assert 3 <= int(result.iterations) <= 10
  assert bool(result.converged)


def test_grid_truncated_policy_iteration_j1_is_value_iteration():
  mdp = rl.gridworld(r_forbidden=-10.0)
  vi = rl.value_iteration(mdp)
  tpi = rl.truncated_policy_iteration(mdp, eval_sweeps=1)
  assert int(tpi.iterations) == int(vi.iterations)
  np.testing.assert_array_equal(tpi.values, vi.values)
  np.testing.assert_array_equal(tpi.policy, vi.policy)


def test_grid_iteration_counts_fall_with_eval_sweeps():
  mdp = rl.gridworld(r_forbidden=-10.0)
  counts = [
    int(rl.truncated_policy_iteration(mdp, eval_sweeps=j).iterations) for j in (1, 3, 10, 100)
  ]
  pi = int(rl.policy_iteration(mdp).iterations)
  assert counts == sorted(counts, reverse=True)
  assert counts[0] == int(rl.value_iteration(mdp).iterations)
  assert counts[-1] >= pi


# --- Random MDPs --------------------------------------------------------------------------------


VALUE_ITERATION = jax.jit(rl.value_iteration)
POLICY_ITERATION = jax.jit(rl.policy_iteration)
TRUNCATED_POLICY_ITERATION = jax.jit(rl.truncated_policy_iteration)


@pytest.mark.parametrize("discount", [0.0, 0.9, 0.99])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_mdps_solvers_agree_with_brute_force(seed, discount):
  mdp = rl.random_mdp(jax.random.key(seed), 20, 4, discount=discount)
  v_star = np_value_iteration(mdp)
  scale = max(1.0, float(np.abs(v_star).max()))
  atol = 2e-6 * scale / (1.0 - discount) + 1e-6
  # Jitted once for all nine cases (the solvers do not jit internally; eval_sweeps is traced).
  vi = VALUE_ITERATION(mdp)
  pi = POLICY_ITERATION(mdp)
  tpi = TRUNCATED_POLICY_ITERATION(mdp, eval_sweeps=10)
  tpi_1 = TRUNCATED_POLICY_ITERATION(mdp, eval_sweeps=1)
  tpi_big = TRUNCATED_POLICY_ITERATION(mdp, eval_sweeps=2_000)
  for name, result in [("vi", vi), ("pi", pi), ("tpi", tpi), ("tpi_big", tpi_big)]:
    assert bool(result.converged), name
    np.testing.assert_allclose(result.values, v_star, atol=atol, err_msg=name)
    # Exact evaluation of the returned policy recovers v*.
    np.testing.assert_allclose(
      rl.policy_evaluation(mdp, result.policy), v_star, atol=atol, err_msg=name
    )
    # Each chosen action is optimal up to float32 resolution (gaps of a few ulps are not).
    q_star = np_q(mdp, v_star)
    chosen = q_star[np.arange(20), np.argmax(result.policy, -1)]
    assert np.all(chosen >= q_star.max(-1) - atol), name
  # j = 1 is value iteration; a large j behaves like policy iteration.
  assert int(tpi_1.iterations) == int(vi.iterations)
  np.testing.assert_array_equal(tpi_1.values, vi.values)
  np.testing.assert_array_equal(tpi_big.policy, pi.policy)
  if discount < 0.99:
    # At γ = 0.99 float32 rounding noise (values ~75, spaced ~8e-6 > tol) adds a few iterations.
    assert abs(int(tpi_big.iterations) - int(pi.iterations)) <= 1
  assert int(vi.iterations) >= int(tpi.iterations) >= int(pi.iterations)


def test_max_iterations_reports_not_converged():
  mdp = rl.random_mdp(jax.random.key(0), 20, 4, discount=0.99)
  result = rl.value_iteration(mdp, max_iterations=5)
  assert int(result.iterations) == 5 and not bool(result.converged)
  result = rl.truncated_policy_iteration(mdp, eval_sweeps=2, max_iterations=3)
  assert int(result.iterations) == 3 and not bool(result.converged)
  result = rl.policy_iteration(mdp, max_iterations=1)
  assert int(result.iterations) == 1 and not bool(result.converged)


def test_initial_values():
  mdp = rl.gridworld()
  v_star = rl.policy_iteration(mdp).values
  warm = rl.value_iteration(mdp, initial_values=v_star)
  assert int(warm.iterations) <= 2
  np.testing.assert_allclose(warm.values, v_star, atol=1e-5)
  with pytest.raises(ValueError, match="initial_values must have shape"):
    rl.value_iteration(mdp, initial_values=jnp.zeros(3))


def test_argument_errors():
  mdp = rl.gridworld()
  with pytest.raises(ValueError, match="eval_sweeps must be an integer >= 1"):
    rl.truncated_policy_iteration(mdp, eval_sweeps=0)
  with pytest.raises(ValueError, match="tol must be > 0"):
    rl.value_iteration(mdp, tol=0.0)
  with pytest.raises(ValueError, match="max_iterations must be an integer >= 1"):
    rl.policy_iteration(mdp, max_iterations=0)
  with pytest.raises(ValueError, match="num_iterations must be a Python int >= 0"):
    rl.value_iteration_trace(mdp, jnp.zeros(25), num_iterations=-1)
  with pytest.raises(ValueError, match="v_star must have shape"):
    rl.value_iteration_trace(mdp, jnp.zeros(24), num_iterations=3)


# --- jit and vmap -------------------------------------------------------------------------------


def test_vmap_over_discount():
  mdp = rl.gridworld(r_forbidden=-10.0)
  discounts = jnp.array([0.0, 0.5, 0.9])
  solvers = {
    "vi": rl.value_iteration,
    "pi": rl.policy_iteration,
    "tpi": functools.partial(rl.truncated_policy_iteration, eval_sweeps=5),
  }
  for name, solve in solvers.items():
    batch = jax.jit(jax.vmap(lambda g, solve=solve: solve(mdp._replace(discount=g))))(discounts)
    assert batch.values.shape == (3, 25) and batch.iterations.shape == (3,)
    for i, g in enumerate((0.0, 0.5, 0.9)):
      _, v_star, _ = grid_reference(g, -10.0)
      np.testing.assert_allclose(batch.values[i], v_star, atol=1e-4, err_msg=name)
      # The same result as the eager (un-batched) call, iteration count included.
      single = solve(rl.gridworld(r_forbidden=-10.0, discount=g))
      np.testing.assert_allclose(batch.values[i], single.values, atol=1e-5, err_msg=name)
      np.testing.assert_array_equal(batch.policy[i], single.policy, err_msg=name)
      assert int(batch.iterations[i]) == int(single.iterations), name


def test_vmap_over_a_batch_of_random_mdps():
  singles = [rl.random_mdp(jax.random.key(10 + i), 20, 4, discount=0.9) for i in range(4)]
  mdps = jax.tree.map(lambda *xs: jnp.stack(xs), *singles)
  vi = jax.vmap(rl.value_iteration)(mdps)
  pi = jax.vmap(rl.policy_iteration)(mdps)
  for i, mdp in enumerate(singles):
    v_star = np_value_iteration(mdp)
    np.testing.assert_allclose(vi.values[i], v_star, atol=1e-4)
    np.testing.assert_allclose(pi.values[i], v_star, atol=1e-4)
    assert int(vi.iterations[i]) == int(VALUE_ITERATION(mdp).iterations)
    assert int(pi.iterations[i]) == int(POLICY_ITERATION(mdp).iterations)


EAGER_AND_JIT = {
  "value_iteration": lambda mdp, v_star: rl.value_iteration(mdp, tol=1e-5),
  "policy_iteration": lambda mdp, v_star: rl.policy_iteration(mdp),
  "truncated_policy_iteration": lambda mdp, v_star: rl.truncated_policy_iteration(
    mdp, eval_sweeps=3, max_iterations=50
  ),
  "value_iteration_trace": lambda mdp, v_star: rl.value_iteration_trace(
    mdp, v_star, num_iterations=10
  ),
  "truncated_policy_iteration_trace": lambda mdp, v_star: rl.truncated_policy_iteration_trace(
    mdp, v_star, eval_sweeps=3, num_iterations=5
  ),
  "policy_iteration_trace": lambda mdp, v_star: rl.policy_iteration_trace(
    mdp, v_star, num_iterations=4
  ),
  "random_mdp": lambda mdp, v_star: rl.random_mdp(jax.random.key(3), 7, 2, discount=0.8),
}


@pytest.mark.parametrize("name", sorted(EAGER_AND_JIT))
def test_eager_and_jitted_calls_agree(name):
  # No jit inside the library: the user's jit (static ints closed over) gives the eager result.
  fn = EAGER_AND_JIT[name]
  mdp = rl.random_mdp(jax.random.key(1), 12, 3, discount=0.9)
  v_star = jnp.asarray(np_value_iteration(mdp), jnp.float32)
  eager, jitted = fn(mdp, v_star), jax.jit(fn)(mdp, v_star)
  assert jax.tree.structure(eager) == jax.tree.structure(jitted)
  for x, y in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
    assert x.dtype == y.dtype and x.shape == y.shape, name
    if jnp.issubdtype(x.dtype, jnp.floating):
      np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6, err_msg=name)
    else:  # iteration counts, convergence flags
      np.testing.assert_array_equal(x, y, err_msg=name)


# --- Error traces -------------------------------------------------------------------------------


def test_error_traces():
  mdp = rl.gridworld(r_forbidden=-10.0)
  v_star = jnp.asarray(grid_reference(0.9, -10.0)[1], jnp.float32)
  n = 40
  vi = np.asarray(rl.value_iteration_trace(mdp, v_star, num_iterations=n))
  tpi = np.asarray(
    rl.truncated_policy_iteration_trace(mdp, v_star, eval_sweeps=5, num_iterations=n)
  )
  pi = np.asarray(rl.policy_iteration_trace(mdp, v_star, num_iterations=n))
  for trace in (vi, tpi, pi):
    assert trace.shape == (n + 1,)
    np.testing.assert_allclose(trace[0], np.abs(v_star).max(), rtol=1e-6)
  # ‖v_k − v*‖∞ ≤ γ^k ‖v_0 − v*‖∞ for value iteration.
  assert np.all(vi <= 0.9 ** np.arange(n + 1) * vi[0] + 1e-4)
  assert np.all(np.diff(vi) <= 1e-5)
  # Policy iteration reaches v* within its iteration count and stays there.
  k = int(rl.policy_iteration(mdp).iterations)
  assert np.all(pi[k - 1 :] < 1e-4)
  # Truncated policy iteration lies between the two (up to rounding).
  assert np.all(tpi <= vi + 1e-4) and np.all(pi <= tpi + 1e-4)
  # The traces follow the solvers' iterations.
  vi_n = rl.value_iteration(mdp, max_iterations=n)
  np.testing.assert_allclose(vi[-1], np.abs(vi_n.values - v_star).max(), atol=1e-5)
  tpi_n = rl.truncated_policy_iteration(mdp, eval_sweeps=5, max_iterations=n)
  np.testing.assert_allclose(tpi[-1], np.abs(tpi_n.values - v_star).max(), atol=1e-5)
