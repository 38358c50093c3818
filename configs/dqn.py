"""DQN on gymnax: CartPole-v1 (default) and Acrobot-v1, seeds vmapped; replay and target network.

Hyperparameters are PureJaxRL's `dqn.py` (after CleanRL): 10 environments, a replay buffer of
10,000 transitions, minibatches of 128, ε from 1 to 0.05 over the first 250,000 steps, learning
from step 10,000 with one Adam step (lr 2.5e-4) every 10 environment steps, a target network
copied every 500 steps, γ 0.99, a 120-84 ReLU Q-network, 5e5 steps.

    python launch.py --config=configs/dqn.py
    python launch.py --config=configs/dqn.py:Acrobot-v1
    python launch.py --config=configs/dqn.py --config.sweep='lr=2.5e-4,1e-3'

Expected (measured on the 2-core CPU, load ≈ 1.3, 8 seeds, mean ± 95% Student-t CI): CartPole-v1
training return 469.4 ± 19.7, greedy 480.4 ± 46.4 (7 seeds at 500, one at 343: DQN is less stable
than PPO), about 2 minutes, 35k env steps/s; Acrobot-v1 −89.8 ± 1.5, greedy −85.2 ± 2.9, about
2.7 minutes at load ≈ 2.5. Another CPU gives other digits (equal in distribution). The
published figures (gymnax README: CartPole-v1 500, Acrobot-v1 ≈ −80) are PPO's, the
environments' solved levels.
The `GridWorld` variant learns the exact optimal Q-values of Zhao's grid world (a test).
"""

from research.runtime import base_config, select_variant


def get_config(arg=None):
  c = base_config("dqn")
  c.env_name = "CartPole-v1"        # a gymnax id with discrete actions, or "GridWorld"
  c.max_steps_in_episode = 0        # override of the environment's time limit (0: keep it)
  c.total_timesteps = 500_000       # environment steps per seed
  c.num_envs = 10                   # parallel environments (steps advance by num_envs)
  c.buffer_size = 10_000            # replay capacity (transitions)
  c.batch_size = 128                # replay minibatch
  c.epsilon_start = 1.0
  c.epsilon_finish = 0.05           # final ε (sweepable)
  c.epsilon_anneal_time = 250_000   # steps of the linear ε decay
  c.target_update_interval = 500    # steps between target updates
  c.tau = 1.0                       # target update step (1: copy; < 1: Polyak) (sweepable)
  c.lr = 2.5e-4                     # Adam step size (sweepable)
  c.learning_starts = 10_000        # steps before the first gradient step
  c.train_interval = 10             # steps between gradient steps (at most one per iteration)
  c.gamma = 0.99                    # discount (sweepable)
  c.loss = "l2"                     # "l2" (½ δ²) | "huber"
  c.hidden_sizes = (120, 84)
  c.activation = "relu"
  c.torso = "mlp"
  c.num_chunks = 10
  c.eval_episodes = 16              # greedy-policy episodes per seed after training
  c.num_seeds = 8
  c.checkpoint_every = 2

  def cartpole(c):
    c.env_name = "CartPole-v1"

  def acrobot(c):
    c.env_name = "Acrobot-v1"

  def gridworld(c):
    # Zhao's grid world (target terminal, random starts, one-hot observations): a tiny
    # deterministic MDP whose optimal Q-values are known exactly (tests).
    c.env_name = "GridWorld"
    c.gamma = 0.9
    c.hidden_sizes = (64,)
    c.total_timesteps = 40_000
    c.num_envs = 8
    c.buffer_size = 5_000
    c.batch_size = 64
    c.epsilon_start = 1.0
    c.epsilon_finish = 1.0          # uniform behaviour: off-policy Q-learning
    c.learning_starts = 500
    c.train_interval = 8
    c.target_update_interval = 400
    c.lr = 1e-3
    c.num_chunks = 5
    c.eval_episodes = 4

  def smoke(c):
    c.num_seeds = 2
    c.num_envs = 4
    c.total_timesteps = 4 * 100
    c.buffer_size = 200
    c.batch_size = 16
    c.learning_starts = 40
    c.train_interval = 4
    c.target_update_interval = 40
    c.epsilon_anneal_time = 200
    c.num_chunks = 2
    c.eval_episodes = 2
    c.hidden_sizes = (16, 16)
    c.max_steps_in_episode = 50
    c.checkpoint_every = 1

  variants = {"CartPole-v1": cartpole, "Acrobot-v1": acrobot, "GridWorld": gridworld,
              "smoke": smoke}
  return select_variant(arg, variants, c)
