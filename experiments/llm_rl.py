"""The DAPO ablation ladder, GRPO, Dr. GRPO, PPO and PPO-max on a tiny transformer policy.

`make(config)` builds one program for every arm × seed (see configs/llm_rl.py):

- `init`: supervised pre-training (SFT) of the `TransformerLM` on imperfect demonstrations of
  addition, from the fixed key `config.sft_seed`. Nothing in it depends on the member's key or
  hyperparameters, so under the runtime's `vmap` it is computed once and broadcast: every member
  starts from the same SFT policy, which is also its frozen reference policy. The member's arm
  index selects its numeric switches (`arm_switches`).
- `step`: `iterations_per_chunk` RL iterations (a `lax.scan`). One iteration: sample
  `pool_factor · N` prompts of the train split, `G` completions each, and, in the same call, one
  slice of the fixed held-out problems (`eval_slice`: over a chunk, every test problem
  `eval_samples` times) (`research.models.decoding.generate`, KV cache); score them (exact match);
  keep the first `N` groups, or with dynamic sampling the first `N` informative ones; shape the
  reward (soft overlong punishment), normalise it (PPO-max), filter truncated samples (overlong
  filtering); compute the advantage of the arm (group z-score, group-centred, RLOO, batch mean, or
  token-level GAE on the KL-penalised reward with the critic head), whiten it (PPO); then
  `epochs × num_minibatches` Adam updates of `policy_loss` (the aggregation a one-hot mix,
  `research.llm_rl.rollout.mixed_policy_loss`) plus the critic loss.
- `finalize`: the samples and iterations spent.
- `report`: one table in DAPO Table 1's layout (rows = arms) and learning curves.

The critic is an MLP head on the policy's final hidden states under `stop_gradient` (the policy is
never moved by the critic loss; trl's value head shares the trunk instead): cheap enough that
every arm computes it, so the arms stay one program.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research import llm_rl
from research.llm_rl import rollout
from research.models import decoding, lecun_normal_flat
from research.models.transformer import TransformerLM, init_lm
from research.runtime import (
  Experiment,
  Plot,
  Report,
  Series,
  Table,
  format_pm,
  percent_pm,
  require,
  summarize,
)
from research.tasks import addition

ADVANTAGES = ("grpo", "dr_grpo", "rloo", "batch_mean", "gae")
NUMERIC_FIELDS = ("eps_low", "eps_high", "dual_clip", "kl_loss_coef", "kl_reward_coef",
                  "reward_norm", "whiten", "value_clip", "critic_warmup", "max_grad_norm",
                  "overlong_filter", "overlong_penalty", "dynamic_sampling")
OFF = 1e6  # what a clip of 0 ("off", the one convention of the arm settings) becomes


def clip_or_off(value):
  """A traced clip setting: the value where it is > 0, else `OFF` (a bound no ratio reaches)."""
  return jnp.where(value > 0, value, OFF)
LADDER = ("naive_grpo", "dapo_overlong_filter", "dapo_clip_higher", "dapo_soft_overlong",
          "dapo_token_level", "dapo_dynamic_sampling")


SWITCHES = ("reward_norm", "whiten", "overlong_filter", "dynamic_sampling")  # 0: off, 1: on
HPARAMS = ("arm", "learning_rate")


def _check_arm(config, name: str) -> None:
  """Raises ConfigError (one line) for a bad `config.arm_settings.<name>` (reads it only)."""
  require(name in config.arm_settings, f"config.arms: '{name}' has no arm_settings entry")
  s = config.arm_settings[name]
  where = f"config.arm_settings.{name}"
  require(s.advantage in ADVANTAGES,
          f"{where}.advantage must be one of {ADVANTAGES}, got '{s.advantage}'")
  require(s.aggregation in llm_rl.AGGREGATION_MODES,
          f"{where}.aggregation must be one of {llm_rl.AGGREGATION_MODES}, got "
          f"'{s.aggregation}'")
  for field in ("eps_low", "eps_high"):
    require(s[field] >= 0, f"{where}.{field} must be ≥ 0 (0: no clipping), got {s[field]}")
  require(s.dual_clip == 0 or s.dual_clip > 1,
          f"{where}.dual_clip must be 0 (off) or > 1, got {s.dual_clip}")
  for field in ("kl_loss_coef", "kl_reward_coef"):
    require(s[field] >= 0, f"{where}.{field} must be ≥ 0 (0: no KL term), got {s[field]}")
  for field in SWITCHES:
    require(s[field] in (0, 1), f"{where}.{field} must be 0 (off) or 1 (on), got {s[field]}")
  require(s.overlong_penalty >= 0, f"{where}.overlong_penalty must be ≥ 0 (the weight of the "
          f"soft overlong punishment; 0: off, 1: DAPO's), got {s.overlong_penalty}")
  require(s.value_clip >= 0, f"{where}.value_clip must be ≥ 0 (0: off), got {s.value_clip}")
  require(s.max_grad_norm >= 0,
          f"{where}.max_grad_norm must be ≥ 0 (0: off), got {s.max_grad_norm}")
  require(s.critic_warmup >= 0 and float(s.critic_warmup).is_integer(),
          f"{where}.critic_warmup must be an integer ≥ 0 (iterations), got {s.critic_warmup}")


def arm_switches(config) -> dict[str, np.ndarray]:
  """Each arm's settings as arrays over arms (host-side): the table that `init` indexes.

  Categories become indices (`advantage` into `ADVANTAGES`) and one-hot rows (`aggregation` over
  `llm_rl.AGGREGATION_MODES`); numeric fields stay numbers.
  """
  table = {"advantage": [], "aggregation": []}
  table.update({f: [] for f in NUMERIC_FIELDS})
  for name in config.arms:
    _check_arm(config, name)
    s = config.arm_settings[name]
    table["advantage"].append(ADVANTAGES.index(s.advantage))
    table["aggregation"].append(
      np.eye(len(llm_rl.AGGREGATION_MODES))[llm_rl.AGGREGATION_MODES.index(s.aggregation)])
    for f in NUMERIC_FIELDS:
      table[f].append(float(s[f]))
  return {k: np.asarray(v, np.int32 if k == "advantage" else np.float32)
          for k, v in table.items()}


def check_config(config) -> None:
  """Raises ConfigError (one line) for a config this experiment cannot run (reads it only)."""
  require(config.num_chunks >= 1 and config.iterations_per_chunk >= 1,
          "config.num_chunks and config.iterations_per_chunk must be ≥ 1")
  require(1 <= config.max_digits <= 8, f"config.max_digits must be in [1, 8], got "
          f"{config.max_digits}")
  require(config.max_new_tokens >= config.max_digits + 4,
          f"config.max_new_tokens must be ≥ max_digits + 4 = {config.max_digits + 4}")
  require(0 < config.overlong_cache <= config.max_new_tokens,
          "config.overlong_cache must be in (0, max_new_tokens]")
  require(config.group_size >= 2, "config.group_size must be ≥ 2")
  require(config.prompts_per_iteration >= 1 and config.pool_factor >= 1,
          "config.prompts_per_iteration and config.pool_factor must be ≥ 1")
  require(config.num_minibatches >= 1,
          f"config.num_minibatches must be ≥ 1, got {config.num_minibatches}")
  batch = config.prompts_per_iteration * config.group_size
  require(batch % config.num_minibatches == 0,
          f"config.num_minibatches must divide N·G = {batch}")
  require(config.epochs >= 1, "config.epochs must be ≥ 1")
  require(config.eval_problems >= 1 and config.eval_samples >= 1
          and config.eval_problems * config.eval_samples % config.iterations_per_chunk == 0,
          "config.eval_problems × config.eval_samples must be a positive multiple of "
          "config.iterations_per_chunk (each iteration samples one slice of the held-out set)")
  require(0.0 <= config.threshold <= 1.0,
          f"config.threshold must be in [0, 1] (an accuracy), got {config.threshold}")
  # The policy and its critic head.
  for field in ("num_layers", "width", "num_heads", "mlp_ratio", "value_hidden"):
    require(config[field] >= 1, f"config.{field} must be ≥ 1, got {config[field]}")
  require(config.width % config.num_heads == 0, "config.width must be a multiple of num_heads")
  # Supervised pre-training.
  require(config.sft_steps >= 0, f"config.sft_steps must be ≥ 0 (0: no SFT), got "
          f"{config.sft_steps}")
  require(config.sft_batch >= 1, f"config.sft_batch must be ≥ 1, got {config.sft_batch}")
  require(config.sft_lr > 0, f"config.sft_lr must be > 0, got {config.sft_lr}")
  require(0.0 <= config.sft_corrupt <= 1.0, "config.sft_corrupt must be in [0, 1]")
  kinds = tuple(config.sft_corrupt_kinds)
  require(len(kinds) == 3 and all(w >= 0 for w in kinds) and sum(kinds) > 0,
          "config.sft_corrupt_kinds must be 3 weights ≥ 0 (wrong digit, extra digits, rambling) "
          f"with a positive sum, got {kinds}")
  # RL.
  require(config.temperature > 0, f"config.temperature must be > 0, got {config.temperature}")
  require(0.0 <= config.gae_lambda <= 1.0,
          f"config.gae_lambda must be in [0, 1], got {config.gae_lambda}")
  require(config.value_coef >= 0, f"config.value_coef must be ≥ 0, got {config.value_coef}")
  require(len(config.arms) >= 1, "config.arms must name at least one arm")
  for name in config.arms:
    _check_arm(config, name)
  # The sweepable hyperparameters (HPARAMS); the runtime applies these checks to every sweep point
  # (and refuses a fractional value of the integer `arm`).
  require(config.learning_rate > 0,
          f"config.learning_rate must be > 0, got {config.learning_rate}")
  require(0 <= config.arm < len(config.arms),
          f"config.arm must index config.arms (0..{len(config.arms) - 1}), got {config.arm}")


class Setup:
  """The static pieces shared by `init`, `step` and the benchmark (no arrays of members here)."""

  def __init__(self, config):
    check_config(config)
    self.config = config
    self.digits = int(config.max_digits)
    self.budget = int(config.max_new_tokens)
    self.prompt_len = addition.prompt_length(self.digits)
    self.group_size = int(config.group_size)
    self.num_groups = int(config.prompts_per_iteration)
    self.pool_groups = self.num_groups * int(config.pool_factor)
    self.batch = self.num_groups * self.group_size
    self.model = TransformerLM(
      vocab_size=addition.VOCAB_SIZE, num_layers=int(config.num_layers), width=int(config.width),
      num_heads=int(config.num_heads), mlp_ratio=int(config.mlp_ratio),
      max_len=self.prompt_len + self.budget)
    # The learning rate lives in the optimiser state, so it can be swept (vmapped) too.
    self.optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=float(
      config.learning_rate))
    self.switches = {k: jnp.asarray(v) for k, v in arm_switches(config).items()}
    self.test = addition.problems(jax.random.key(int(config.eval_seed)),
                                  int(config.eval_problems), max_digits=self.digits,
                                  split="test", reverse=bool(config.reverse))
    self.eval_rows = int(config.eval_problems) * int(config.eval_samples) // int(
      config.iterations_per_chunk)

  # --- the model pieces -------------------------------------------------------------------------

  def forward(self, params, tokens):
    """Logits `[B, T, V]` and the final (normed) hidden states `[B, T, F]` in one pass."""
    logits, state = self.model.apply(
      {"params": params}, tokens,
      capture_intermediates=lambda module, method: module.name == "final_norm")
    hidden = jax.tree.leaves(state["intermediates"]["final_norm"])[0]
    return logits, hidden

  def completion_logprobs(self, params, prompts, completion):
    """`(logp, entropy, hidden)` `[B, N(, F)]` of the completion tokens after the prompts."""
    tokens = jnp.concatenate([prompts, completion], axis=1)[:, :-1]
    logits, hidden = self.forward(params, tokens)
    start = self.prompt_len - 1
    logp, entropy = rollout.token_logprobs(logits[:, start:], completion)
    return logp, entropy, hidden[:, start:]

  def value_init(self, key):
    width, hidden = int(self.config.width), int(self.config.value_hidden)
    return {"w1": lecun_normal_flat(key, (width, hidden)), "b1": jnp.zeros(hidden),
            "w2": jnp.zeros(hidden), "b2": jnp.zeros(())}

  @staticmethod
  def value_apply(value_params, hidden):
    """`V(s_t) = w₂ · relu(W₁ sg(h_t) + b₁) + b₂`: the critic head on frozen features."""
    h = jax.lax.stop_gradient(hidden)
    return jax.nn.relu(h @ value_params["w1"] + value_params["b1"]) @ value_params["w2"] + \
      value_params["b2"]

  def generate(self, params, key, prompts, *, greedy=False):
    return decoding.generate(self.model, {"params": params}, key, prompts,
                             max_new_tokens=self.budget, temperature=self.config.temperature,
                             greedy=greedy, eos_id=addition.EOS)

  # --- supervised pre-training ------------------------------------------------------------------

  def sft(self, key):
    """SFT parameters from `key`: Adam (warm-up, cosine) on imperfect demonstrations."""
    c = self.config
    k_init, k_data = jax.random.split(key)
    params = init_lm(self.model, k_init)["params"]
    steps = int(c.sft_steps)
    if steps == 0:
      return params
    schedule = optax.warmup_cosine_decay_schedule(0.0, float(c.sft_lr), max(steps // 10, 1),
                                                  max(steps, 2))
    optimizer = optax.adam(schedule)

    def loss_fn(p, tokens, mask):
      logp = decoding.sequence_logprobs(self.model, {"params": p}, tokens)
      return llm_rl.sft_loss(logp[:, self.prompt_len - 1:], mask)

    def update(carry, k):
      p, opt_state = carry
      k_prob, k_demo = jax.random.split(k)
      prob = addition.problems(k_prob, int(c.sft_batch), max_digits=self.digits,
                               split="train", reverse=bool(c.reverse))
      demo, mask, _ = addition.demonstrations(
        k_demo, prob, max_new_tokens=self.budget, corrupt=float(c.sft_corrupt),
        corrupt_kinds=tuple(float(w) for w in c.sft_corrupt_kinds))
      tokens = jnp.concatenate([prob.prompt, demo], axis=1)
      loss, grads = jax.value_and_grad(loss_fn)(p, tokens, mask)
      change, opt_state = optimizer.update(grads, opt_state, p)
      return (optax.apply_updates(p, change), opt_state), loss

    (params, _), _ = jax.lax.scan(update, (params, optimizer.init(params)),
                                  jax.random.split(k_data, steps))
    return params

  # --- evaluation -------------------------------------------------------------------------------

  def eval_slice(self, iteration):
    """The held-out rows evaluated at this iteration: `(prompts, answers, answer lengths)`.

    The fixed test problems, each repeated `eval_samples` times, are cut into
    `iterations_per_chunk` equal slices; iteration `i` of a chunk samples slice `i` in the same
    `generate` call as its rollout (one compiled sampler), so a chunk's held-out accuracy is
    avg@k over all test problems, each evaluated once, by the policies of that chunk (before
    their update).
    """
    k, rows = int(self.config.eval_samples), self.eval_rows
    start = (iteration % int(self.config.iterations_per_chunk)) * rows
    take = lambda x: jax.lax.dynamic_slice_in_dim(rollout.repeat_groups(x, group_size=k), start,
                                                  rows)
    return take(self.test.prompt), take(self.test.answer), take(self.test.answer_length)

  # --- one RL iteration -------------------------------------------------------------------------

  def rollout(self, state, key):
    """Samples the pool, selects the batch and computes everything the updates need."""
    c, hp, G = self.config, state["hp"], self.group_size
    k_prob, k_gen = jax.random.split(key)
    prob = addition.problems(k_prob, self.pool_groups, max_digits=self.digits, split="train",
                             reverse=bool(c.reverse))
    prompts = rollout.repeat_groups(prob.prompt, group_size=G)
    eval_prompts, eval_answer, eval_length = self.eval_slice(state["iteration"])
    gen = self.generate(state["params"], k_gen, jnp.concatenate([prompts, eval_prompts]))
    tokens, eval_tokens = gen.tokens[: prompts.shape[0]], gen.tokens[prompts.shape[0]:]
    heldout = addition.score(eval_tokens, eval_answer, eval_length).mean()
    accuracy = addition.score(tokens, rollout.repeat_groups(prob.answer, group_size=G),
                              rollout.repeat_groups(prob.answer_length, group_size=G))
    length, truncated = addition.completion_length(tokens)

    # The batch: the first N groups, or (dynamic sampling) the first N informative ones.
    ds = hp["dynamic_sampling"] > 0
    ds_groups, ds_valid, spent, kept = rollout.dynamic_sampling_selection(
      accuracy, group_size=G, num_groups=self.num_groups)
    first = jnp.arange(self.num_groups, dtype=jnp.int32)
    groups = jnp.where(ds, ds_groups, first)
    group_valid = jnp.where(ds, ds_valid, True)
    rows = llm_rl.group_sample_indices(groups, group_size=G)
    row_valid = rollout.repeat_groups(group_valid, group_size=G)
    prompts, completion = prompts[rows], tokens[rows]
    acc, length, truncated = accuracy[rows], length[rows], truncated[rows]
    samples = jnp.where(ds, spent * G, self.num_groups * G).astype(jnp.float32)
    per_kept = jnp.where(ds, spent * G / jnp.maximum(kept, 1), G).astype(jnp.float32)

    # Log-probabilities of the behaviour and reference policies, entropies, old values.
    # (One vmapped pass over the stacked [policy, reference] parameters: one compiled forward.)
    both = jax.tree.map(lambda a, b: jnp.stack([a, b]), state["params"], state["ref"])
    logp2, entropy2, hidden2 = jax.vmap(self.completion_logprobs, in_axes=(0, None, None))(
      both, prompts, completion)
    old_logp, ref_logp, entropy, hidden = logp2[0], logp2[1], entropy2[0], hidden2[0]
    old_values = self.value_apply(state["value"], hidden)
    positions = jnp.arange(self.budget)[None, :]
    mask = (positions < length[:, None]).astype(jnp.float32)

    # Rewards: accuracy + soft overlong punishment, then (PPO-max) running normalisation.
    penalty = llm_rl.overlong_penalty(length, max_len=self.budget, cache_len=c.overlong_cache)
    reward = acc + hp["overlong_penalty"] * penalty
    norm_state, normed = llm_rl.reward_normalizer(clip=5.0).update(state["norm"], reward)
    use_norm = hp["reward_norm"] > 0
    reward = jnp.where(use_norm, normed, reward)
    norm_state = jax.tree.map(lambda new, old: jnp.where(use_norm, new, old), norm_state,
                              state["norm"])

    # The loss mask: overlong filtering, and groups that dynamic sampling could not fill.
    loss_mask = jnp.where(hp["overlong_filter"] > 0,
                          llm_rl.overlong_filter_mask(mask, truncated), mask)
    loss_mask = loss_mask * row_valid[:, None]

    # Advantages: the arm's kind, broadcast to tokens; GAE on the KL-penalised token rewards.
    token_rewards = llm_rl.kl_penalty_rewards(reward, old_logp, ref_logp, loss_mask,
                                              kl_coef=hp["kl_reward_coef"])
    gae = llm_rl.token_gae(token_rewards, old_values, loss_mask, discount=1.0,
                           lambda_=float(c.gae_lambda))
    per_sequence = jnp.stack([
      llm_rl.group_advantages(reward, group_size=G, normalize_std=True),
      llm_rl.group_advantages(reward, group_size=G, normalize_std=False),
      llm_rl.rloo_advantages(reward, group_size=G),
      reward - reward.mean(),
    ])
    kind = state["hp"]["advantage"]
    adv = jnp.where(kind == ADVANTAGES.index("gae"), gae,
                    per_sequence[jnp.minimum(kind, 3)][:, None] * jnp.ones_like(gae))
    adv = jnp.where(hp["whiten"] > 0, llm_rl.masked_whiten(adv, loss_mask), adv)
    adv = jnp.where(loss_mask > 0, adv, 0.0)

    first_rows = jnp.arange(self.batch)  # the first N groups of the pool: the same for all arms
    stats = _length_stats(accuracy[first_rows], *addition.completion_length(tokens[first_rows]))
    stats.update(
      heldout_accuracy=heldout,
      train_accuracy=accuracy[first_rows].mean(),
      informative_frac=llm_rl.informative_groups(accuracy[first_rows], group_size=G).mean(),
      batch_accuracy=acc.mean(),
      entropy=rollout.ratio_of_sums(*rollout.masked_sum_count(entropy, mask)),
      samples=samples,
      samples_per_kept_prompt=per_kept,
      filled_frac=group_valid.mean(),
      reward=reward.mean(),
    )
    batch = dict(prompts=prompts, completion=completion, old_logp=old_logp, ref_logp=ref_logp,
                 old_values=old_values, returns=gae + old_values, adv=adv, mask=loss_mask)
    return batch, norm_state, stats

  def loss(self, params, value_params, hp, policy_on, mb):
    logp, entropy, hidden = self.completion_logprobs(params, mb["prompts"], mb["completion"])
    values = self.value_apply(value_params, hidden)
    pl, metrics = rollout.mixed_policy_loss(
      logp, mb["old_logp"], mb["adv"], mb["mask"], aggregation_weights=hp["aggregation"],
      eps_low=clip_or_off(hp["eps_low"]), eps_high=clip_or_off(hp["eps_high"]),
      dual_clip=clip_or_off(hp["dual_clip"]), max_len=self.budget,
      ref_logp=mb["ref_logp"], kl_coef=hp["kl_loss_coef"], kl_kind="k3", entropy=entropy)
    vl = llm_rl.value_loss(values, mb["old_values"], mb["returns"], mb["mask"],
                           clip_eps=clip_or_off(hp["value_clip"]))
    total = policy_on * pl + float(self.config.value_coef) * vl
    return total, {**metrics, "value_loss": vl}

  def iteration(self, state, key):
    """One RL iteration: rollout, then `epochs × num_minibatches` updates. Returns metrics."""
    c, hp = self.config, state["hp"]
    k_roll, k_plan = jax.random.split(key)
    batch, norm_state, stats = self.rollout(state, k_roll)
    if c.shuffle_minibatches:
      plan = rollout.minibatch_plan(k_plan, self.batch, num_minibatches=int(c.num_minibatches),
                                    epochs=int(c.epochs))
    else:  # strided: minibatch m holds rows m, m + M, ... (the same G/M samples of every group)
      plan = jnp.tile(jnp.arange(self.batch).reshape(-1, int(c.num_minibatches)).T,
                      (int(c.epochs), 1))
    policy_on = (state["iteration"] >= hp["critic_warmup"]).astype(jnp.float32)

    def update(carry, idx):
      params, value_params, opt_state = carry
      mb = jax.tree.map(lambda x: x[idx], batch)
      grads, metrics = jax.grad(self.loss, argnums=(0, 1), has_aux=True)(
        params, value_params, hp, policy_on, mb)
      norm = optax.global_norm(grads)
      scale = jnp.where(hp["max_grad_norm"] > 0,
                        jnp.minimum(1.0, hp["max_grad_norm"] / jnp.maximum(norm, 1e-12)), 1.0)
      grads = jax.tree.map(lambda g: g * scale, grads)
      change, opt_state = self.optimizer.update(grads, opt_state, (params, value_params))
      params, value_params = optax.apply_updates((params, value_params), change)
      return (params, value_params, opt_state), {**metrics, "grad_norm": norm}

    (params, value_params, opt_state), metrics = jax.lax.scan(
      update, (state["params"], state["value"], state["opt"]), plan)
    keep = ("clip_frac_low", "clip_frac_high", "approx_kl", "kl_ref", "ratio_mean", "pg_loss",
            "value_loss", "grad_norm")
    stats.update({k: metrics[k].mean() for k in keep})
    state = {**state, "params": params, "value": value_params, "opt": opt_state,
             "norm": norm_state, "iteration": state["iteration"] + 1,
             "samples": state["samples"] + stats["samples"]}
    return state, stats

  # --- init / step ------------------------------------------------------------------------------

  def init(self, key, hparams, sft_params=None):
    arm = jnp.asarray(hparams["arm"], jnp.int32)
    hp = {k: v[arm] for k, v in self.switches.items()}
    params = self.sft(jax.random.key(int(self.config.sft_seed))) if sft_params is None \
      else sft_params
    k_value, k_run = jax.random.split(key)
    value_params = self.value_init(k_value)
    opt = self.optimizer.init((params, value_params))
    opt.hyperparams["learning_rate"] = jnp.asarray(hparams["learning_rate"], jnp.float32)
    return {"params": params, "ref": params, "value": value_params, "opt": opt,
            "norm": llm_rl.reward_normalizer().init(), "key": k_run,
            "iteration": jnp.zeros((), jnp.int32), "samples": jnp.zeros((), jnp.float32),
            "hp": hp}

  def step(self, state):
    """`iterations_per_chunk` RL iterations (each also samples its slice of the held-out set)."""
    key, k_iter = jax.random.split(state["key"])
    state, stats = jax.lax.scan(self.iteration, {**state, "key": key},
                                jax.random.split(k_iter, int(self.config.iterations_per_chunk)))
    metrics = _chunk_means(stats)
    metrics.update(start_train_accuracy=stats["train_accuracy"][0],
                   samples_total=state["samples"],
                   iterations_total=state["iteration"].astype(jnp.float32))
    return state, metrics

  @staticmethod
  def finalize(state):
    return {"samples_total": state["samples"], "iterations_total": state["iteration"]}


def _length_stats(accuracy, length, truncated):
  """Sums and counts of the lengths of correct, wrong-but-finished and truncated completions."""
  length = length.astype(jnp.float32)
  correct = accuracy > 0
  wrong = (~correct) & (~truncated)
  out = {}
  for name, sel in (("correct", correct), ("wrong", wrong), ("all", jnp.ones_like(correct))):
    out[f"len_{name}_sum"], out[f"len_{name}_count"] = rollout.masked_sum_count(length, sel)
  out["truncated_frac"] = truncated.mean()
  return out


def _chunk_means(stats):
  """Per-chunk metrics: means over the chunk's iterations; length means as ratios of sums."""
  out = {}
  for name, value in stats.items():
    if name.endswith("_count"):
      continue
    if name.endswith("_sum"):
      base = name[: -len("_sum")]
      out[base] = rollout.ratio_of_sums(value.sum(), stats[base + "_count"].sum())
    elif name == "samples":
      out["samples_chunk"] = value.sum()
    else:
      out[name] = value.mean()
  return out


def make(config) -> Experiment:
  check_config(config)
  setup = Setup(config)
  return Experiment(
    init=setup.init, step=setup.step, num_chunks=int(config.num_chunks),
    report=functools.partial(_report, config),
    hparams={k: (int if k == "arm" else float)(config[k]) for k in HPARAMS},
    updates_per_chunk=int(config.iterations_per_chunk), finalize=setup.finalize,
    check_config=check_config, hparam_choices={"arm": tuple(config.arms)})


# --- the report -----------------------------------------------------------------------------------


def _first_crossing(curve, xs, threshold):
  """x of the first evaluation at or above the threshold, per seed (`[seeds, evals]`); NaN: none."""
  hit = curve >= threshold
  first = np.argmax(hit, axis=1)
  return np.where(hit.any(axis=1), np.asarray(xs)[first], np.nan)


def _reach(values):
  """'median (k/n)' of a per-seed quantity that may be NaN (not reached)."""
  values = np.asarray(values, np.float64)
  ok = np.isfinite(values)
  if not ok.any():
    return f"— (0/{len(values)})"
  return f"{np.median(values[ok]):,.0f} ({ok.sum()}/{len(values)})"


def _report(config, final, history, info):
  members = info.members
  points = range(len(members.points))
  arm_index = [int(members.of_point(members.hparams["arm"], p)[0]) for p in points]
  names = [config.arms[a] + (f" (lr {members.points[p]['learning_rate']:g})"
                             if "learning_rate" in members.points[p] else "")
           for p, a in zip(points, arm_index, strict=True)]
  ipc = int(config.iterations_per_chunk)
  num_chunks = history["heldout_accuracy"].shape[0]
  iters = np.arange(num_chunks + 1) * ipc            # the start, then the end of each chunk

  def curve(name, p):  # [seeds, chunks]
    return np.stack([members.of_point(h, p) for h in history[name]], axis=1)

  rows, diag_rows, plots_data = [], [], []
  thr = float(config.threshold)
  for p, name in zip(points, names, strict=True):
    # The start (iteration 0) is the SFT policy's accuracy on its first train-split rollouts (the
    # problems come from the same distribution); chunk c's held-out accuracy is plotted at its end.
    acc = np.concatenate([curve("start_train_accuracy", p)[:, :1],
                          curve("heldout_accuracy", p)], axis=1)
    samples_end = curve("samples_total", p)               # cumulative at the end of each chunk
    samples = np.concatenate([np.zeros((acc.shape[0], 1)), samples_end], axis=1)
    steps_to = _first_crossing(acc, iters, thr)
    samples_to = np.array([_first_crossing(acc[i : i + 1], samples[i], thr)[0]
                           for i in range(acc.shape[0])])
    last = functools.partial(lambda m, p: curve(m, p)[:, -1], p=p)
    rows.append([name, percent_pm(acc[:, 0]), percent_pm(acc[:, -1]), _reach(steps_to),
                 _reach(samples_to), f"{last('entropy').mean():.3f}",
                 f"{last('len_all').mean():.2f}", f"{100 * last('truncated_frac').mean():.1f}"])
    diag_rows.append([
      name, percent_pm(last("train_accuracy")), f"{last('len_correct').mean():.2f}",
      f"{last('len_wrong').mean():.2f}", f"{100 * curve('clip_frac_low', p).mean():.2f}",
      f"{100 * curve('clip_frac_high', p).mean():.2f}", f"{curve('approx_kl', p).mean():.2e}",
      f"{last('kl_ref').mean():.3f}", f"{100 * last('informative_frac').mean():.0f}",
      f"{curve('samples_per_kept_prompt', p).mean():.1f}"])
    plots_data.append((name, acc, samples))

  seeds = members.num_seeds
  main = Table(
    "Held-out accuracy of the arms (DAPO Table 1 layout)",
    ["arm", "SFT start (%)", "final held-out acc. (%)", f"iterations to {thr:.0%}",
     f"samples to {thr:.0%}", "final entropy", "final mean length", "truncated (%)"], rows,
    f"Held-out accuracy = avg@{config.eval_samples} over {config.eval_problems} fixed test-split "
    f"problems (sampled, temperature {config.temperature}) by the policies of the last chunk of "
    f"{ipc} iterations (each iteration samples a slice before its update); the SFT start is the "
    f"accuracy of the first rollout (train split). Mean ± 95% Student-t CI over {seeds} "
    f"seeds. Iterations / samples to {thr:.0%}: median over the seeds that reached it (how many "
    f"did), measured every {ipc} iterations; samples count every completion generated for "
    "training (with dynamic sampling, the groups spent until N informative ones were found). "
    "Entropy (nats per token), mean completion length (tokens incl. EOS) and the truncated share "
    "are over the last chunk's rollouts. "
    f"{config.num_chunks * ipc} iterations of {config.prompts_per_iteration} prompts × "
    f"{config.group_size} samples, {config.epochs * config.num_minibatches} minibatch updates "
    f"each; {config.max_digits}-digit addition, budget {config.max_new_tokens} tokens.")
  diag = Table(
    "Diagnostics", ["arm", "train acc., last chunk (%)", "length correct", "length wrong",
                    "clip low (%)", "clip high (%)", "approx KL(old‖new)", "KL to ref (k3)",
                    "informative groups (%)", "samples per kept prompt"], diag_rows,
    "Clip fractions and approx KL are means over all updates; length of correct and of wrong "
    "but finished completions, KL to the SFT reference and the share of informative groups "
    "(rewards not all equal, among the first N groups) over the last chunk; samples per kept "
    "prompt: mean over all iterations (G without dynamic sampling). " + (
      f"{info.run_seconds:.0f} s of RL for {members.num_members} members after "
      f"{info.compile_seconds:.0f} s of compilation and SFT; "
      f"{info.run_seconds / (info.chunks_run * ipc):.2f} s per iteration of all members."
      if info.chunks_run else "(Resumed after the last chunk: no timings from this launch.)"))

  # Two panels of at most 7 lines each (one colour per line): the DAPO ladder, and the others
  # with naive GRPO and full DAPO as common references.
  ladder = [i for i, n in enumerate(names) if n.split(" ")[0] in LADDER]
  others = [i for i, n in enumerate(names) if n.split(" ")[0] not in LADDER[1:-1]]
  panels = [("", list(range(len(names))))] if len(names) <= 7 else [
    ("_dapo_ladder", ladder), ("_baselines", others)]

  def series(indices, x_of, y_of, band=True):
    out = []
    for i in indices:
      name, acc, samples = plots_data[i]
      out.append(Series.over_seeds(name, x_of(samples), 100 * y_of(acc), band=band))
    return out

  plots = []
  for suffix, indices in panels:
    label = {"_dapo_ladder": " (DAPO ladder)", "_baselines": " (baselines)"}.get(suffix, "")
    plots.append(Plot(f"heldout_accuracy{suffix}",
                      f"Held-out accuracy vs RL iterations{label} (mean, 95% Student-t CI)",
                      "RL iterations", "held-out accuracy (%)",
                      series(indices, lambda s: iters, lambda a: a)))
    plots.append(Plot(f"heldout_accuracy_vs_samples{suffix}",
                      f"Held-out accuracy vs samples generated{label} (mean)",
                      "samples generated", "held-out accuracy (%)",
                      series(indices, lambda s: s.mean(axis=0), lambda a: a, band=False)))
  chunk_x = (np.arange(num_chunks) + 1) * ipc
  for metric, title, ylabel in (("entropy", "Policy entropy", "nats per token"),
                                ("len_all", "Mean completion length", "tokens"),
                                ("truncated_frac", "Truncated completions", "fraction")):
    for suffix, indices in panels:
      plots.append(Plot(f"{metric}{suffix}", f"{title} during RL (mean over seeds)",
                        "RL iterations", ylabel,
                        [Series(names[i], chunk_x, curve(metric, points[i]).mean(axis=0))
                         for i in indices]))
  return Report([main, diag], plots, _notes(names, plots_data))


# Paired comparisons beyond the ladder's rungs: the whole ladder, and the baselines' claims.
COMPARISONS = (("dapo_dynamic_sampling", "naive_grpo"), ("grpo", "ppo"), ("ppo_max", "ppo"),
               ("dr_grpo", "naive_grpo"), ("naive_grpo", "grpo"),
               ("naive_grpo", "reinforce_mean"))


def _notes(names, plots_data):
  """Paired differences of the final held-out accuracy: the DAPO ladder rung by rung, then
  `COMPARISONS`, for the arms that are present."""
  final = {name: acc[:, -1] for name, acc, _ in plots_data}
  present = [n for n in LADDER if n in final]
  pairs = list(zip(present[:-1], present[1:], strict=True))
  pairs += [(before, after) for after, before in COMPARISONS
            if after in final and before in final and (before, after) not in pairs]
  if not pairs:
    return ""
  lines = ["Paired differences of the final held-out accuracy (seed i of every arm shares its "
           "keys), mean ± 95% Student-t CI of the per-seed differences, in points; the DAPO "
           "ladder rung by rung first:"]
  for before, after in pairs:
    d = summarize(100 * (final[after] - final[before]))
    verdict = ("" if d.n < 2 else " (significant)" if d.ci_low > 0 or d.ci_high < 0 else "")
    lines.append(f"- {after} − {before}: {format_pm(d, 1)}{verdict}")
  return "\n".join(lines)


def iteration_seconds(config, *, repeats: int = 5):
  """Seconds per RL iteration (one member, after compilation) with the config's sizes.

  For the benchmark; uses random (not SFT) parameters. Returns `(compile + first iteration s,
  median s of the later ones)`.
  """
  from research.runtime.timing import time_calls

  setup = Setup(config)
  hparams = {"arm": jnp.asarray(int(config.arm)),
             "learning_rate": jnp.asarray(float(config.learning_rate))}
  params = init_lm(setup.model, jax.random.key(0))["params"]
  state = jax.jit(lambda k: setup.init(k, hparams, sft_params=params))(jax.random.key(1))
  run = jax.jit(setup.iteration)
  keys = iter(jax.random.split(jax.random.key(2), repeats + 1))

  def iteration():   # each call continues from the previous one's state
    nonlocal state
    state, stats = run(state, next(keys))
    return stats

  timing = time_calls(iteration, repeats=repeats)
  return timing.first, timing.seconds
