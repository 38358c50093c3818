"""The 10-armed testbed (Sutton & Barto, Fig. 2.2): ε-greedy sample averages, 2000 problems.

    python launch.py --config=configs/bandit.py

Expected: at pull 1000, ε = 0.1 has the highest average reward (≈ 1.4) and picks the optimal
arm most often (≈ 80%); greedy (ε = 0) stalls near 1.0. The README's "Adding an experiment"
walks through this config and `experiments/bandit.py`.
"""

from research.runtime import base_config, select_variant


def get_config(arg=None):
  c = base_config("bandit")
  c.num_seeds = 2000                # the book's 2000 runs: one bandit problem per seed
  c.sweep = "epsilon=0,0.01,0.1"    # × 3 points: 6000 members in one program
  c.epsilon = 0.1                   # the value when not swept
  c.num_arms = 10
  c.num_chunks = 10
  c.pulls_per_chunk = 100

  def smoke(c):
    c.num_seeds = 4
    c.num_chunks = 2

  return select_variant(arg, {"smoke": smoke}, c)
