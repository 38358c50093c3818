"""research.llm_rl: policy optimisation for language models (PPO, GRPO, Dr. GRPO, RLOO, DAPO).

A flat list of the public names. Token tensors are `[B, L]` with a float mask `[B, L]`; groups are
`G` consecutive rows. Each algorithm is a choice on independent axes (SPEC §4): the advantage
(`token_gae`, `group_advantages`, `rloo_advantages`), the surrogate and its clipping
(`policy_loss`), the aggregation (`aggregate`), the KL to the reference (`kl_estimate` in the loss,
`kl_penalty_rewards` in the reward), the data side (`overlong_penalty`, `overlong_filter_mask`,
`informative_groups`, `select_groups`) and PPO-max (`reward_normalizer`, `masked_whiten`,
`value_loss`, `sft_loss`; global gradient clipping is `optax.clip_by_global_norm`).

The published algorithms as points on these axes (a starting point, not a prescription):

- PPO (RLHF, PPO-max): `token_gae` on `kl_penalty_rewards` (normalised by `reward_normalizer`),
  `masked_whiten` the advantages, `policy_loss(eps_low=eps_high=0.2, aggregation="token-mean")`,
  `value_loss(clip_eps=...)`, optionally `+ γ · sft_loss`.
- GRPO: `group_advantages(normalize_std=True)`, `policy_loss(aggregation="seq-mean-token-mean",
  ref_logp=..., kl_coef=0.04, kl_kind="k3")`.
- Dr. GRPO: `group_advantages(normalize_std=False)`,
  `policy_loss(aggregation="seq-mean-token-sum-norm", max_len=generation budget)`, no KL.
- DAPO: `group_advantages`, `policy_loss(eps_low=0.2, eps_high=0.28, aggregation="token-mean")`,
  no KL, `overlong_penalty` added to the reward (or `overlong_filter_mask`), `select_groups`.
- RLOO: `rloo_advantages` in place of the group z-score.
"""

from research.llm_rl.advantages import group_advantages, rloo_advantages, token_gae
from research.llm_rl.dapo import (
  group_sample_indices,
  informative_groups,
  overlong_filter_mask,
  overlong_penalty,
  select_groups,
)
from research.llm_rl.kl import KL_KINDS, kl_estimate
from research.llm_rl.losses import (
  AGGREGATION_MODES,
  aggregate,
  masked_mean,
  policy_loss,
  sft_loss,
  value_loss,
)
from research.llm_rl.ppo_max import (
  RewardNormalizer,
  RewardNormalizerState,
  kl_penalty_rewards,
  masked_whiten,
  reward_normalizer,
)
from research.llm_rl.rollout import (
  dynamic_sampling_selection,
  masked_sum_count,
  minibatch_plan,
  mixed_policy_loss,
  ratio_of_sums,
  repeat_groups,
  token_logprobs,
)

__all__ = [
  # kl
  "KL_KINDS",
  "kl_estimate",
  # advantages
  "group_advantages",
  "rloo_advantages",
  "token_gae",
  # losses
  "AGGREGATION_MODES",
  "aggregate",
  "masked_mean",
  "policy_loss",
  "value_loss",
  "sft_loss",
  # DAPO data side
  "overlong_penalty",
  "overlong_filter_mask",
  "informative_groups",
  "select_groups",
  "group_sample_indices",
  # PPO-max
  "RewardNormalizer",
  "RewardNormalizerState",
  "reward_normalizer",
  "masked_whiten",
  "kl_penalty_rewards",
  # the RL iteration's pieces (rollout)
  "dynamic_sampling_selection",
  "masked_sum_count",
  "minibatch_plan",
  "mixed_policy_loss",
  "ratio_of_sums",
  "repeat_groups",
  "token_logprobs",
]
