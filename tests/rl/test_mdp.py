"""TabularMDP, validation, the grid world and random MDPs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research import rl

UP, RIGHT, DOWN, LEFT, STAY = range(5)


def s(row, col):
  return rl.cell_to_state(row, col)


def test_grid_constants_and_indexing():
  assert rl.GRID_SHAPE == (5, 5)
  assert rl.FORBIDDEN_CELLS == ((2, 2), (2, 3), (3, 3), (4, 2), (4, 4), (5, 2))
  assert rl.TARGET_CELL == (4, 3) and rl.TARGET_STATE == 17
  assert rl.START_CELL == (1, 1) and rl.START_STATE == 0
  assert rl.ACTION_NAMES == ("up", "right", "down", "left", "stay")
  assert s(1, 1) == 0 and s(1, 5) == 4 and s(2, 1) == 5 and s(5, 5) == 24
  for state in range(25):
    assert rl.cell_to_state(*rl.state_to_cell(state)) == state


def test_gridworld_shapes_and_deterministic_transitions():
  mdp = rl.gridworld()
  assert mdp.transitions.shape == (25, 5, 25)
  assert mdp.rewards.shape == (25, 5)
  assert mdp.discount.shape == ()
  np.testing.assert_allclose(float(mdp.discount), 0.9, rtol=1e-6)
  p = np.asarray(mdp.transitions)
  assert set(np.unique(p)) == {0.0, 1.0}
  np.testing.assert_array_equal(p.sum(-1), 1.0)
  assert rl.validate_mdp(mdp) == (25, 5)


@pytest.mark.parametrize(
  "cell, action, next_cell, kind",
  [
    ((1, 1), UP, (1, 1), "boundary"),
    ((1, 1), LEFT, (1, 1), "boundary"),
    ((1, 1), RIGHT, (1, 2), "other"),
    ((1, 1), DOWN, (2, 1), "other"),
    ((1, 1), STAY, (1, 1), "other"),
    ((1, 2), DOWN, (2, 2), "forbidden"),
    ((2, 2), STAY, (2, 2), "forbidden"),
    ((2, 2), RIGHT, (2, 3), "forbidden"),
    ((2, 2), LEFT, (2, 1), "other"),
    ((3, 3), DOWN, (4, 3), "target"),
    ((4, 2), RIGHT, (4, 3), "target"),
    ((4, 3), STAY, (4, 3), "target"),
    ((4, 3), UP, (3, 3), "forbidden"),
    ((5, 3), UP, (4, 3), "target"),
    ((5, 2), DOWN, (5, 2), "boundary"),  # a bump out of a forbidden cell is a boundary bump
    ((5, 5), RIGHT, (5, 5), "boundary"),
    ((5, 5), DOWN, (5, 5), "boundary"),
    ((1, 5), UP, (1, 5), "boundary"),
  ],
)
def test_gridworld_transitions_and_rewards(cell, action, next_cell, kind):
  rewards = {"boundary": -2.0, "forbidden": -3.0, "target": 5.0, "other": 0.25}
  mdp = rl.gridworld(
    r_boundary=rewards["boundary"],
    r_forbidden=rewards["forbidden"],
    r_target=rewards["target"],
    r_other=rewards["other"],
  )
  state = s(*cell)
  assert int(jnp.argmax(mdp.transitions[state, action])) == s(*next_cell)
  assert float(mdp.rewards[state, action]) == rewards[kind]


def test_gridworld_reward_counts():
  # 20 boundary bumps (5 cells per side); the target is entered from 4 neighbours + stay.
  mdp = rl.gridworld(r_boundary=1.0, r_forbidden=0.0, r_target=0.0, r_other=0.0)
  assert int(mdp.rewards.sum()) == 20
  mdp = rl.gridworld(r_boundary=0.0, r_forbidden=0.0, r_target=1.0, r_other=0.0)
  assert int(mdp.rewards.sum()) == 5


def test_gridworld_rewards_may_be_traced():
  make = jax.jit(lambda rf, g: rl.gridworld(r_forbidden=rf, discount=g))
  traced = make(-10.0, 0.5)
  eager = rl.gridworld(r_forbidden=-10.0, discount=0.5)
  np.testing.assert_array_equal(traced.rewards, eager.rewards)
  np.testing.assert_array_equal(traced.transitions, eager.transitions)
  batch = jax.vmap(lambda rf: rl.gridworld(r_forbidden=rf).rewards)(jnp.array([-1.0, -10.0]))
  assert batch.shape == (2, 25, 5)
  assert float(batch[1, s(1, 2), DOWN]) == -10.0


def test_terminal_mask():
  mask = np.asarray(rl.gridworld_terminal_mask())
  assert mask.dtype == bool and mask.shape == (25,)
  assert mask.sum() == 1 and mask[rl.TARGET_STATE]


def test_rendering_helpers():
  v = jnp.arange(25.0)
  grid = rl.values_to_grid(v)
  assert grid.shape == (5, 5) and float(grid[1, 0]) == 5.0
  text = rl.render_values(v, decimals=1)
  lines = text.splitlines()
  assert len(lines) == 5 and lines[0].split() == ["0.0", "1.0", "2.0", "3.0", "4.0"]
  policy = jax.nn.one_hot(jnp.array([RIGHT] * 24 + [STAY]), 5)
  arrows = rl.policy_to_arrows(policy)
  assert arrows.shape == (5, 5) and arrows[0, 0] == "→" and arrows[4, 4] == "o"
  assert rl.render_policy(policy).splitlines()[4] == "→ → → → o"
  with pytest.raises(ValueError, match="v must have shape"):
    rl.values_to_grid(jnp.zeros(24))
  with pytest.raises(ValueError, match="policy must have shape"):
    rl.policy_to_arrows(jnp.zeros((25, 4)))


def test_random_mdp():
  mdp = rl.random_mdp(jax.random.key(0), 20, 4, discount=0.8)
  assert mdp.transitions.shape == (20, 4, 20) and mdp.rewards.shape == (20, 4)
  p = np.asarray(mdp.transitions, np.float64)
  assert (p >= 0).all()
  np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
  r = np.asarray(mdp.rewards)
  assert (r >= 0).all() and (r < 1).all()
  np.testing.assert_allclose(float(mdp.discount), 0.8, rtol=1e-6)
  again = rl.random_mdp(jax.random.key(0), 20, 4, discount=0.8)
  np.testing.assert_array_equal(mdp.transitions, again.transitions)
  other = rl.random_mdp(jax.random.key(1), 20, 4, discount=0.8)
  assert not np.allclose(mdp.transitions, other.transitions)
  rl.validate_mdp(mdp)
  # Rows are spread over the simplex: Dirichlet(1) has E[P] = 1/S and Var[P] = (S−1)/(S²(S+1)).
  np.testing.assert_allclose(p.mean(), 1 / 20, rtol=1e-5)
  np.testing.assert_allclose(p.var(), 19 / (400 * 21), rtol=0.15)


def test_random_mdp_argument_errors():
  key = jax.random.key(3)
  with pytest.raises(ValueError, match="num_states must be a Python int >= 1"):
    rl.random_mdp(key, 0, 2)
  with pytest.raises(ValueError, match="num_actions must be a Python int >= 1"):
    rl.random_mdp(key, 3, 2.5)


def _good():
  p = np.zeros((3, 2, 3), np.float32)
  p[:, :, 0] = 1.0
  return rl.TabularMDP(p, np.zeros((3, 2), np.float32), 0.9)


@pytest.mark.parametrize(
  "mutate, match",
  [
    (
      lambda m: m._replace(transitions=np.ones((3, 2), np.float32)),
      "mdp.transitions must have rank 3",
    ),
    (lambda m: m._replace(transitions=np.ones((3, 2, 4)) / 4), r"mdp.transitions must have shape"),
    (lambda m: m._replace(transitions=np.ones((3, 3, 3)) / 3), r"mdp.transitions must have shape"),
    (lambda m: m._replace(rewards=np.zeros(3)), "mdp.rewards must have rank 2"),
    (lambda m: m._replace(discount=1.0), r"mdp.discount must lie in \[0, 1\)"),
    (lambda m: m._replace(discount=-0.1), r"mdp.discount must lie in \[0, 1\)"),
    (lambda m: m._replace(discount=np.array([0.9, 0.9])), "mdp.discount must be a scalar"),
    (lambda m: m._replace(transitions=m.transitions * 2), "mdp.transitions rows .* sum to 1"),
    (
      lambda m: m._replace(transitions=np.where(np.arange(3) == 1, 1.5, m.transitions - 0.5)),
      "mdp.transitions must hold probabilities >= 0",
    ),
    (lambda m: "not an mdp", "mdp must be a TabularMDP"),
  ],
)
def test_validate_mdp_errors(mutate, match):
  with pytest.raises(ValueError, match=match):
    rl.validate_mdp(mutate(_good()))
  # The public functions validate at their boundary too.
  with pytest.raises(ValueError, match=match):
    rl.value_iteration(mutate(_good()))


def test_policy_and_value_errors():
  mdp = _good()
  v = jnp.zeros(3)
  with pytest.raises(ValueError, match=r"policy must have shape \[S, A\] = \[3, 2\]"):
    rl.policy_evaluation(mdp, jnp.ones((3, 3)) / 3)
  with pytest.raises(ValueError, match="policy rows .* sum to 1"):
    rl.policy_evaluation(mdp, jnp.ones((3, 2)))
  with pytest.raises(ValueError, match="policy must hold probabilities >= 0"):
    rl.bellman_expectation(mdp, jnp.array([[1.5, -0.5]] * 3), v)
  with pytest.raises(ValueError, match=r"v must have shape \[S\] = \[3\]"):
    rl.q_values(mdp, jnp.zeros(4))
  with pytest.raises(ValueError, match="v must have shape"):
    rl.bellman_optimality(mdp, jnp.zeros((3, 1)))
  with pytest.raises(ValueError, match="q must have rank 2"):
    rl.greedy_policy(jnp.zeros(3))
  with pytest.raises(ValueError, match="discount must lie in"):
    rl.gridworld(discount=1.0)
  with pytest.raises(ValueError, match="discount must lie in"):
    rl.random_mdp(jax.random.key(0), 3, 2, discount=1.5)


def test_value_checks_are_skipped_under_jit_but_shape_checks_are_not():
  bad = _good()._replace(transitions=_good().transitions * 2)  # rows sum to 2
  out = jax.jit(rl.bellman_optimality)(bad, jnp.ones(3))
  np.testing.assert_allclose(out, 1.8, rtol=1e-6)
  with pytest.raises(ValueError, match="v must have shape"):
    jax.jit(rl.bellman_optimality)(bad, jnp.ones(4))
  # A traced discount outside [0, 1) is not checked; a concrete one is.
  jax.jit(lambda g: rl.q_values(_good()._replace(discount=g), jnp.ones(3)))(1.0)


def test_discount_zero_is_allowed():
  mdp = rl.gridworld(discount=0.0)
  rl.validate_mdp(mdp)
  np.testing.assert_allclose(rl.bellman_optimality(mdp, jnp.ones(25)), mdp.rewards.max(-1))
