"""Policy optimisation for a tiny language model: the DAPO ablation ladder and its neighbours.

A small-scale analogue of DAPO's Table 1 (docs/SPEC.md §4): a 2-layer transformer policy
(`research.models.TransformerLM`) is first trained by supervised learning on imperfect
demonstrations of multi-digit addition (`research.tasks.addition`: a fraction of the answers
wrong, too long, or rambling past the budget), once, inside `init` from a fixed key, so every arm
and seed starts from the same SFT policy, which is also the reference policy. Then RL with a
verifiable 0/1 reward (exact answer before EOS): each iteration samples `G` completions for each
of `N` prompts with the KV-cached sampler, scores them, computes advantages and takes several
minibatch updates. Every arm is a point on the independent axes of `research.llm_rl`; the arm
index is the one sweepable hyperparameter, and each arm's settings (`arm_settings`) become numeric
per-member switches, so all arms × seeds run as one compiled program (the critic head and the
dynamic-sampling pool are computed for every arm and used only where the arm says so).

Arms (rows of the table, `arms` order; `arm_settings.<name>.<field>` can be overridden):
- reinforce_mean: REINFORCE with a batch-mean baseline, no clipping, token sum / (B·L_max).
- ppo: token-level GAE with a critic, per-token k1 KL penalty in the reward (β = 0.05), whitened
  advantages, clip 0.2, token-mean.
- ppo_max: PPO + running reward normalisation and clipping, value clipping (0.2), critic
  pre-training (the policy frozen for the first iterations), global gradient clipping (1.0)
  (Zheng et al. 2023).
- grpo: the GRPO paper: group z-score (std ddof=1), seq-mean-token-mean, β·k3 in the loss
  (β = 0.04), clip 0.2.
- naive_grpo: GRPO without the KL term (DAPO's starting row), then the DAPO ladder, each row
  adding one technique to the previous: dapo_overlong_filter, dapo_clip_higher (ε_high = 0.28),
  dapo_soft_overlong (L_cache = 4), dapo_token_level (token-mean), dapo_dynamic_sampling (the
  first N informative groups of a pool of `pool_factor · N`).
- dr_grpo: group-centred advantages (no std), token sum / (B·L_max) with L_max = the budget, no KL.
Global gradient-norm clipping at 1.0 (verl's default) in every arm except plain PPO.

    python launch.py --config=configs/llm_rl.py                   # all 11 arms × 8 seeds
    python launch.py --config=configs/llm_rl.py:dapo_clip_higher  # one arm
    python launch.py --config=configs/llm_rl.py --config.sweep='arm=grpo,ppo;learning_rate=1e-4'
    python launch.py --config=configs/llm_rl.py --config.sweep='arm=4,9'   # arms by index
    python launch.py --config=configs/llm_rl.py:smoke

Expected (measured, 8 seeds, mean ± 95% Student-t CI): the SFT policy starts at 62 ± 5 %
(sampled, avg over its first rollout); after 100 iterations of 8 prompts × 8 samples every arm is
at 80–86 % held-out accuracy (avg@2, sampled); naive GRPO beats REINFORCE-mean by 5.4 ± 1.4
points (paired); no rung of the DAPO ladder changes held-out accuracy significantly (full DAPO −
naive GRPO +0.3 ± 2.4). Runtime: about 9 minutes on the 2-core CPU at load ≈ 3 (510 s of RL,
5.1 s per iteration of all 88 members) with a warm compilation cache. `:smoke`: ≈ 10 s cold, ≈ 5 s
warm, at load ≈ 0.8.

Reference numbers (cited, not matched; a 32B model on AIME 2024, DAPO Table 1): naive GRPO 30,
+ overlong filtering 36, + clip-higher 38, + soft overlong punishment 41, + token-level loss 42,
+ dynamic sampling 50.
"""

import ml_collections

from research.runtime import base_config, select_variant

# Every arm's settings. Fields (all numeric so they can be vmapped, except the two categories):
#   advantage: "grpo" (z-score, ddof=1) | "dr_grpo" (group-centred) | "rloo" | "batch_mean" | "gae"
#   aggregation: "token-mean" | "seq-mean-token-mean" | "seq-mean-token-sum-norm"
#   eps_low, eps_high: clip range of the ratio; dual_clip: c > 1. A clip or coefficient of 0 is
#   off, for every field (eps 0: no clipping)
#   kl_loss_coef: β of k3 in the loss; kl_reward_coef: β of the per-token k1 penalty in the reward
#   reward_norm: running reward normalisation (0/1); whiten: advantage whitening (0/1)
#   value_clip: ε_v of the clipped value loss (0: off); critic_warmup: iterations before the
#   policy moves; max_grad_norm: global gradient-norm clip (0: off)
#   overlong_filter, overlong_penalty, dynamic_sampling: DAPO's data side (0/1)
_BASE = dict(advantage="grpo", aggregation="seq-mean-token-mean", eps_low=0.2, eps_high=0.2,
             dual_clip=0.0, kl_loss_coef=0.0, kl_reward_coef=0.0, reward_norm=0.0, whiten=0.0,
             value_clip=0.0, critic_warmup=0, max_grad_norm=1.0, overlong_filter=0.0,
             overlong_penalty=0.0, dynamic_sampling=0.0)


def _arms():
  arms = {}
  arms["reinforce_mean"] = dict(_BASE, advantage="batch_mean",
                                aggregation="seq-mean-token-sum-norm", eps_low=0.0,
                                eps_high=0.0)
  arms["ppo"] = dict(_BASE, advantage="gae", aggregation="token-mean", kl_reward_coef=0.05,
                     whiten=1.0, max_grad_norm=0.0)
  arms["ppo_max"] = dict(arms["ppo"], reward_norm=1.0, value_clip=0.2, critic_warmup=5,
                         max_grad_norm=1.0)
  arms["grpo"] = dict(_BASE, kl_loss_coef=0.04)
  arms["naive_grpo"] = dict(_BASE)
  arms["dapo_overlong_filter"] = dict(arms["naive_grpo"], overlong_filter=1.0)
  arms["dapo_clip_higher"] = dict(arms["dapo_overlong_filter"], eps_high=0.28)
  arms["dapo_soft_overlong"] = dict(arms["dapo_clip_higher"], overlong_penalty=1.0)
  arms["dapo_token_level"] = dict(arms["dapo_soft_overlong"], aggregation="token-mean")
  arms["dapo_dynamic_sampling"] = dict(arms["dapo_token_level"], dynamic_sampling=1.0)
  arms["dr_grpo"] = dict(_BASE, advantage="dr_grpo", aggregation="seq-mean-token-sum-norm")
  return arms


ARMS = _arms()


def get_config(arg=None):
  c = base_config("llm_rl")
  c.num_seeds = 8                   # seeds per arm (paired: seed i of every arm shares its keys)
  c.arms = tuple(ARMS)              # the arms, in table order; `arm` indexes this tuple
  c.arm_settings = ml_collections.ConfigDict(ARMS)
  c.arm = 0                         # the sweepable arm index (used without a sweep)
  c.sweep = "arm=" + ",".join(str(i) for i in range(len(ARMS)))   # all arms × seeds
  # The task (research.tasks.addition).
  c.max_digits = 2                  # operands of 1..D digits
  c.reverse = True                  # answer digits least significant first
  c.max_new_tokens = 8              # generation budget L_max (≥ D + 4; answers are ≤ D + 2)
  c.overlong_cache = 4              # L_cache of the soft overlong punishment
  # The policy (research.models.TransformerLM).
  c.num_layers = 2
  c.width = 64
  c.num_heads = 4
  c.mlp_ratio = 4
  c.value_hidden = 64               # the critic: an MLP head on the policy's (stop-gradient)
                                    # final hidden states, trained in every arm, used by "gae"
  # Supervised pre-training, once (fixed key), shared by every member.
  c.sft_seed = 0
  c.sft_steps = 600                 # Adam updates
  c.sft_batch = 64
  c.sft_lr = 3e-3                   # peak (warm-up 10 %, cosine decay)
  c.sft_corrupt = 0.4               # fraction of wrong demonstrations
  c.sft_corrupt_kinds = (1.0, 1.0, 1.0)  # weights of (wrong digit, extra digits, rambling)
  # RL.
  c.prompts_per_iteration = 8       # N prompts (groups) per training batch
  c.group_size = 8                  # G completions per prompt
  c.pool_factor = 2                 # prompts sampled per iteration = pool_factor · N (dynamic
                                    # sampling keeps the first N informative groups; the others
                                    # use the first N groups)
  c.num_minibatches = 4             # minibatch updates per epoch over the N·G samples
  c.shuffle_minibatches = False     # random minibatches (else strided: G/M samples of each group)
  c.epochs = 1                      # passes over each rollout
  c.learning_rate = 3e-4            # Adam (policy and critic head; sweepable: 1e-3 collapses)
  c.temperature = 1.0               # sampling temperature of the rollouts
  c.gae_lambda = 0.95               # GAE λ (γ = 1)
  c.value_coef = 0.5                # weight of the critic loss
  c.iterations_per_chunk = 10       # RL iterations per chunk (held-out evaluation in between)
  c.num_chunks = 10                 # 100 RL iterations
  # Evaluation.
  c.eval_problems = 160             # fixed held-out problems (test split); each iteration
  c.eval_samples = 2                # samples 1/iterations_per_chunk of the problems × samples
                                    # (accuracy = avg@k over a chunk's policies)
  c.eval_seed = 1234
  c.threshold = 0.8                 # held-out accuracy for "steps / samples to threshold"
  c.checkpoint_every = 4

  def smoke(c):
    c.num_seeds = 1
    c.sweep = "arm=1,2,9,10"        # ppo, ppo_max, dapo_dynamic_sampling, dr_grpo
    c.max_digits = 2
    c.max_new_tokens = 6
    c.overlong_cache = 2
    c.num_layers = 1                # compilation time grows with the layers
    c.width = 32
    c.value_hidden = 16
    c.sft_steps = 0                 # no SFT (its compilation alone is ~8 s of CPU)
    c.sft_batch = 16
    c.prompts_per_iteration = 4
    c.group_size = 4
    c.num_minibatches = 2
    c.iterations_per_chunk = 2
    c.num_chunks = 2
    c.eval_problems = 16
    c.eval_samples = 2
    c.checkpoint_every = 1

  variants = {"smoke": smoke}
  for index, name in enumerate(ARMS):
    variants[name] = lambda c, index=index: setattr(c, "sweep", f"arm={index}")
  return select_variant(arg, variants, c)
