"""Zhao, *Mathematical Foundations of RL*, ch. 7: TD learning on the 5×5 grid world.

- TD(0) evaluation of the uniform policy (default rewards, γ = 0.9): ‖v − v_π‖∞ against the
  exact `v_π = (I − γ P_π)⁻¹ r_π`.
- Sarsa, Expected Sarsa, n-step Sarsa and on-policy Q-learning on the book's episodic task
  (start top-left, episode ends at the target; r_target = 0, r_forbidden = r_boundary = −10,
  r_other = −1; α = 0.1, ε = 0.1, q₀ = 0, 500 episodes): episodes until the greedy path from the
  start is optimal, final |max_a q(s₀, a) − v*(s₀)|, learning curves.
- Off-policy Q-learning from a uniform behaviour policy (default rewards, γ = 0.9, α = 0.1,
  one run of 100,000 steps): ‖max_a q − v*‖∞ and whether the greedy policy is optimal.
All over `num_seeds` seeds vmapped in one compiled program; mean and 95% Student-t CIs.

    python launch.py                                   # this is the default experiment
    python launch.py --config=configs/gridworld_td.py --config.sweep='alpha=0.05,0.1,0.2'

Expected: on-policy Q-learning's greedy path is optimal on every seed (after ≈ 285 episodes) and
off-policy Q-learning's greedy policy on every seed with ‖max q − v*‖∞ ≈ 0.003; the Sarsa family,
with ε = 0.1 constant, ends optimal on 18–29 of 32 seeds (the others on the ε-safe path).
Runtime on a 2-core CPU with 32 seeds: ≈ 9 s with a warm compilation cache (0.5 s compilation),
≈ 12 s with 2.6 s of compilation (load ≈ 0.8).
"""

from research.runtime import base_config, select_variant


def get_config(arg=None):
  c = base_config("gridworld_td")
  c.num_seeds = 32
  c.num_chunks = 50                 # progress, metrics and checkpoints happen between chunks
  c.alpha = 0.1                     # step size of every method (sweepable)
  c.epsilon = 0.1                   # ε of the ε-greedy behaviour (sweepable)
  c.discount = 0.9
  c.n_step = 3                      # n of n-step Sarsa
  c.episodes = 500                  # episodes of each control method (book: 500)
  c.max_episode_steps = 500         # an episode longer than this is cut (not terminated)
  c.td_steps = 100_000              # TD(0) evaluation steps (continuing task)
  c.offpolicy_steps = 100_000       # off-policy Q-learning steps (book: 100,000)
  c.checkpoint_every = 10

  def smoke(c):
    c.num_seeds = 2
    c.num_chunks = 2
    c.episodes = 4
    c.max_episode_steps = 50
    c.td_steps = 400
    c.offpolicy_steps = 400

  return select_variant(arg, {"smoke": smoke}, c)
