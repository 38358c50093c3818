"""REINFORCE (with and without a baseline) and A2C on gymnax CartPole-v1, seeds vmapped.

All three algorithms train in every member (one table row each). REINFORCE: 8 complete
episodes per update, Adam lr 1e-3, γ 0.99, 400 updates; with a baseline: a separate critic
torso, advantage G − v(s). A2C: 16 environments × 5 steps, n-step returns (GAE λ = 1), Adam
lr 1e-3, entropy 0.01, value coefficient 0.5, gradient norm 0.5, 5e5 steps. Networks: PPO's
(2 × 64 tanh, separate actor and critic).

    python launch.py --config=configs/pg.py
    python launch.py --config=configs/pg.py:a2c
    python launch.py --config=configs/pg.py --config.sweep='lr=5e-4,1e-3,2e-3'

Expected (measured on the 2-core CPU, load ≈ 1.3, 8 seeds, mean ± 95% Student-t CI):
last-chunk training return REINFORCE 479.1 ± 19.0 (greedy 473.5 ± 39.3), with baseline
489.9 ± 5.6 (greedy 497.8 ± 5.3), A2C 491.9 ± 7.0 (greedy 499.4 ± 1.4), against CartPole's solved
level 500 (gymnax README); compile 6.5 s, ≈ 50 s in all.
"""

from research.runtime import base_config, select_variant


def get_config(arg=None):
  c = base_config("pg")
  c.env_name = "CartPole-v1"
  c.max_steps_in_episode = 0        # override of the environment's time limit (0: keep it)
  c.algorithms = "reinforce,reinforce_baseline,a2c"
  c.gamma = 0.99                    # discount (sweepable)
  c.lr = 1e-3                       # REINFORCE Adam step size (sweepable)
  c.ent_coef = 0.0                  # REINFORCE entropy bonus (sweepable)
  c.reinforce_envs = 8              # episodes per REINFORCE update
  c.reinforce_updates = 400         # REINFORCE updates (multiple of num_chunks)
  c.a2c_lr = 1e-3                   # A2C Adam step size (sweepable)
  c.a2c_ent_coef = 0.01             # A2C entropy bonus (sweepable)
  c.a2c_envs = 16
  c.a2c_steps = 5                   # rollout length (n of the n-step returns)
  c.a2c_timesteps = 500_000         # A2C environment steps per seed
  c.a2c_gae_lambda = 1.0            # 1: n-step returns; < 1: GAE
  c.vf_coef = 0.5                   # value-loss coefficient (baseline and A2C)
  c.max_grad_norm = 0.5
  c.hidden_sizes = (64, 64)
  c.activation = "tanh"
  c.num_chunks = 10
  c.eval_episodes = 16
  c.num_seeds = 8
  c.checkpoint_every = 2

  def only(names):
    def apply(c):
      c.algorithms = names
    return apply

  def smoke(c):
    c.num_seeds = 2
    c.max_steps_in_episode = 40
    c.reinforce_envs = 2
    c.reinforce_updates = 4
    c.a2c_envs = 2
    c.a2c_steps = 4
    c.a2c_timesteps = 2 * 4 * 4
    c.num_chunks = 2
    c.eval_episodes = 2
    c.hidden_sizes = (16, 16)
    c.checkpoint_every = 1

  variants = {"reinforce": only("reinforce"), "baseline": only("reinforce_baseline"),
              "a2c": only("a2c"), "smoke": smoke}
  return select_variant(arg, variants, c)
