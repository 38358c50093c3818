"""Zhao, *Mathematical Foundations of RL*, ch. 3-4: optimal values and DP convergence.

Reproduces the book's optimal state values of the 5×5 grid world (Fig. 3.4 and its variants for
γ ∈ {0.9, 0.5, 0} and r_forbidden ∈ {−1, −10}) to the printed precision, and compares value
iteration, policy iteration and truncated policy iteration (several j): iterations to converge on
the grid and on random MDPs (mean and 95% CI over seeds), and ‖v_k − v*‖∞ per iteration.

    python launch.py --config=configs/gridworld_dp.py

Expected: the γ = 0.9, r_forbidden = −1 table equals the book's to 0.1 (max |Δ| < 0.05); on
the grid PI needs fewer iterations than truncated PI, which needs fewer than VI. Runtime on a
2-core CPU: ≈ 5 s at load ≈ 0.6, half of it compilation.
"""

from research.runtime import base_config, select_variant


def get_config(arg=None):
  c = base_config("gridworld_dp")
  c.num_seeds = 32                     # random MDPs for the iteration-count comparison
  c.discounts = (0.9, 0.5, 0.0)        # γ of the optimal-value tables
  c.forbidden_rewards = (-1.0, -10.0)  # r_forbidden of the optimal-value tables
  c.convergence_forbidden_reward = -10.0  # the grid of the iteration comparison (as in the book)
  c.convergence_discount = 0.9
  c.eval_sweeps = (1, 3, 10, 100)      # j of truncated policy iteration
  c.tol = 1e-6                         # stop when ‖v_{k+1} − v_k‖∞ < tol
  c.trace_iterations = 80              # iterations in the ‖v_k − v*‖∞ plot
  c.random_states = 64                 # random MDPs: states
  c.random_actions = 4                 # random MDPs: actions
  c.random_discount = 0.9
  c.checkpoint_every = 0

  def smoke(c):
    c.num_seeds = 2
    c.eval_sweeps = (1, 5)
    c.trace_iterations = 10
    c.random_states = 8

  return select_variant(arg, {"smoke": smoke}, c)
