"""`check_config` of every experiment: the shipped configs pass, every range check refuses.

Pure config checks (no `make`, no jit): the runtime calls `experiment.check_config` on the config
of every sweep point, so a swept value is refused as the same value given with
`--config.field=...` is; these tests call it directly on edited copies of the configs.
"""

import copy
import functools
import importlib
import inspect
import pathlib
import re

import pytest

from experiments import REGISTRY
from research.runtime import ConfigError, parse_sweep
from research.runtime.cli import load_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAMES = sorted(REGISTRY)


def module(name):
  return importlib.import_module(REGISTRY[name])


@functools.cache
def _load(spec: str):
  name, _, variant = spec.partition(":")
  return load_config(str(ROOT / "configs" / f"{name}.py") + (f":{variant}" if variant else ""))


def config(spec: str):
  """A fresh copy of `configs/<name>.py[:variant]` (spec 'name' or 'name:variant')."""
  return copy.deepcopy(_load(spec))


def variants(name: str) -> list[str]:
  """The variant names of a config (from the error that lists them)."""
  with pytest.raises(ConfigError) as e:
    _load(f"{name}:__no_such_variant__")
  return str(e.value).split("allowed: ", 1)[1].split(", ")


def with_field(c, field: str, value):
  """`c` with the (dotted) field set to `value`."""
  *groups, leaf = field.split(".")
  node = c
  for group in groups:
    node = node[group]
  with node.unlocked():
    node[leaf] = value
  return c


# --- (a) the shipped configs pass ----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_default_smoke_and_every_variant_pass_and_are_not_modified(name):
  check = module(name).check_config
  for variant in ["", "smoke", *variants(name)]:
    c = config(f"{name}:{variant}" if variant else name)
    before = c.to_dict()
    check(c)
    assert c.to_dict() == before, variant


@pytest.mark.parametrize("name", NAMES)
def test_every_point_of_the_shipped_sweeps_passes(name):
  check = module(name).check_config
  for variant in ["", "smoke", *variants(name)]:
    c = config(f"{name}:{variant}" if variant else name)
    for field, values in parse_sweep(c.sweep).items():
      for value in values:
        check(with_field(copy.deepcopy(c), field, value))


@pytest.mark.parametrize("name", NAMES)
def test_make_checks_first_and_hands_the_check_to_the_runtime(name):
  m = module(name)
  body = [line.strip() for line in inspect.getsource(m.make).splitlines()[1:]]
  assert body[0] == "check_config(config)"
  assert "check_config=check_config" in inspect.getsource(m)


# --- (b) every range check refuses ---------------------------------------------------------------

# (config spec, field, bad value, fragment of the message)
BAD = [
    # bandit
    ("bandit", "num_arms", 1, "config.num_arms must be ≥ 2"),
    ("bandit", "epsilon", -0.1, "config.epsilon must be in [0, 1]"),
    ("bandit", "epsilon", 1.5, "config.epsilon must be in [0, 1]"),
    ("bandit", "num_chunks", 0, "config.num_chunks must be ≥ 1"),
    ("bandit", "pulls_per_chunk", 0, "config.pulls_per_chunk must be ≥ 1"),
    # ppo
    *[("ppo", f, 0, f"config.{f} must be ≥ 1") for f in (
        "num_envs", "num_steps", "update_epochs", "num_minibatches", "num_chunks",
        "total_timesteps", "rollout_unroll")],
    ("ppo", "num_minibatches", 3, "must divide the batch"),
    ("ppo", "num_chunks", 3, "multiple of config.num_chunks"),
    ("ppo", "max_steps_in_episode", -1, "config.max_steps_in_episode must be ≥ 0"),
    ("ppo", "hidden_sizes", (64, 0), "config.hidden_sizes must be positive integers"),
    ("ppo", "activation", "gelu", "config.activation must be one of"),
    ("ppo", "torso", "rnn", "config.torso must be one of"),
    ("ppo", "lr", 0.0, "config.lr must be > 0"),
    ("ppo", "lr", -1e-3, "config.lr must be > 0"),
    ("ppo", "gamma", 1.5, "config.gamma must be in [0, 1]"),
    ("ppo", "gamma", -0.1, "config.gamma must be in [0, 1]"),
    ("ppo", "gae_lambda", 1.1, "config.gae_lambda must be in [0, 1]"),
    ("ppo", "clip_eps", -0.2, "config.clip_eps must be > 0"),
    ("ppo", "clip_eps", 0.0, "config.clip_eps must be > 0"),
    ("ppo", "ent_coef", -0.01, "config.ent_coef must be ≥ 0"),
    ("ppo", "vf_coef", -0.5, "config.vf_coef must be ≥ 0"),
    ("ppo", "max_grad_norm", 0.0, "config.max_grad_norm must be > 0"),
    ("ppo", "eval_episodes", 0, "config.eval_episodes must be ≥ 1"),
    ("ppo", "eval_every", -1, "config.eval_every must be ≥ 0"),
    # dqn
    *[("dqn", f, 0, f"config.{f} must be ≥ 1") for f in (
        "num_envs", "total_timesteps", "buffer_size", "batch_size", "num_chunks",
        "train_interval", "target_update_interval")],
    ("dqn", "num_chunks", 3, "multiple of config.num_chunks"),
    ("dqn", "buffer_size", 2, "must be ≥ num_envs"),
    ("dqn", "batch_size", 20_000, "config.batch_size (20000) must be ≤ buffer_size"),
    ("dqn", "train_interval", 3, "must divide one another"),
    ("dqn", "learning_starts", -1, "config.learning_starts must be ≥ 0"),
    ("dqn", "loss", "l1", "config.loss must be one of"),
    ("dqn", "max_steps_in_episode", -5, "config.max_steps_in_episode must be ≥ 0"),
    ("dqn", "hidden_sizes", (0,), "config.hidden_sizes must be positive integers"),
    ("dqn", "activation", "gelu", "config.activation must be one of"),
    ("dqn", "torso", "rnn", "config.torso must be one of"),
    ("dqn", "epsilon_start", 1.5, "config.epsilon_start must be in [0, 1]"),
    ("dqn", "epsilon_anneal_time", 0, "config.epsilon_anneal_time must be > 0"),
    ("dqn", "eval_episodes", 0, "config.eval_episodes must be ≥ 1"),
    ("dqn", "lr", 0.0, "config.lr must be > 0"),
    ("dqn", "gamma", 1.5, "config.gamma must be in [0, 1]"),
    ("dqn", "epsilon_finish", -0.1, "config.epsilon_finish must be in [0, 1]"),
    ("dqn", "epsilon_finish", 1.1, "config.epsilon_finish must be in [0, 1]"),
    ("dqn", "tau", 0.0, "config.tau must be in (0, 1]"),
    ("dqn", "tau", 1.5, "config.tau must be in (0, 1]"),
    # pg
    ("pg", "algorithms", "reinforce,ppo", "config.algorithms"),
    ("pg", "algorithms", "", "config.algorithms"),
    *[("pg", f, 0, f"config.{f} must be ≥ 1") for f in (
        "reinforce_envs", "reinforce_updates", "a2c_envs", "a2c_steps", "a2c_timesteps",
        "num_chunks", "eval_episodes")],
    ("pg", "reinforce_updates", 5, "multiple of config.num_chunks"),
    ("pg", "a2c_steps", 7, "the A2C updates"),
    ("pg", "max_steps_in_episode", -1, "config.max_steps_in_episode must be ≥ 0"),
    ("pg", "hidden_sizes", (64, -1), "config.hidden_sizes must be positive integers"),
    ("pg", "activation", "gelu", "config.activation must be one of"),
    ("pg", "a2c_gae_lambda", 1.5, "config.a2c_gae_lambda must be in [0, 1]"),
    ("pg", "vf_coef", -0.5, "config.vf_coef must be ≥ 0"),
    ("pg", "max_grad_norm", 0.0, "config.max_grad_norm must be > 0"),
    ("pg", "gamma", -0.5, "config.gamma must be in [0, 1]"),
    ("pg", "lr", 0.0, "config.lr must be > 0"),
    ("pg", "a2c_lr", -1e-3, "config.a2c_lr must be > 0"),
    ("pg", "ent_coef", -0.1, "config.ent_coef must be ≥ 0"),
    ("pg", "a2c_ent_coef", -0.01, "config.a2c_ent_coef must be ≥ 0"),
    # gridworld_dp
    ("gridworld_dp", "discounts", (), "must each list at least one value"),
    ("gridworld_dp", "forbidden_rewards", (), "must each list at least one value"),
    ("gridworld_dp", "discounts", (0.9, 1.0), "config.discounts: each must be in [0, 1)"),
    ("gridworld_dp", "convergence_discount", 1.0, "config.convergence_discount must be in [0, 1)"),
    ("gridworld_dp", "random_discount", -0.1, "config.random_discount must be in [0, 1)"),
    ("gridworld_dp", "eval_sweeps", (1, 0), "config.eval_sweeps: each must be an integer ≥ 1"),
    ("gridworld_dp", "tol", 0.0, "config.tol must be > 0"),
    ("gridworld_dp", "trace_iterations", 0, "config.trace_iterations must be ≥ 1"),
    ("gridworld_dp", "random_states", 0, "config.random_states and config.random_actions"),
    ("gridworld_dp", "random_actions", 0, "config.random_states and config.random_actions"),
    # gridworld_td
    ("gridworld_td", "num_chunks", 0, "config.num_chunks must be ≥ 1"),
    ("gridworld_td", "episodes", 7, "config.episodes (7) must be a positive multiple"),
    ("gridworld_td", "td_steps", 0, "config.td_steps (0) must be a positive multiple"),
    ("gridworld_td", "offpolicy_steps", 30, "config.offpolicy_steps (30) must be a positive"),
    ("gridworld_td", "discount", 1.0, "config.discount must be in [0, 1)"),
    ("gridworld_td", "n_step", 0, "config.n_step must be ≥ 1"),
    ("gridworld_td", "max_episode_steps", 0, "config.max_episode_steps must be ≥ 1"),
    ("gridworld_td", "alpha", 0.0, "config.alpha must be in (0, 1]"),
    ("gridworld_td", "alpha", 1.5, "config.alpha must be in (0, 1]"),
    ("gridworld_td", "epsilon", -0.1, "config.epsilon must be in [0, 1]"),
    ("gridworld_td", "epsilon", 1.5, "config.epsilon must be in [0, 1]"),
    # voc_map
    ("voc_map", "num_seeds", 2, "config.num_seeds must be 1"),
    *[("voc_map", f, 0, f"config.{f} must be ≥ 1") for f in (
        "synthetic_images", "synthetic_classes", "gt_per_image", "det_per_image",
        "timing_repeats", "reference_repeats")],
    ("voc_map", "iou_threshold", 1.5, "config.iou_threshold must be in [0, 1]"),
    ("voc_map", "iou_threshold", -0.5, "config.iou_threshold must be in [0, 1]"),
    ("voc_map", "difficult_fraction", -0.1, "config.difficult_fraction must be in [0, 1]"),
    ("voc_map", "image_size", 4, "config.image_size must be ≥ 8"),
    ("voc_map", "synthetic_seed", -1, "config.synthetic_seed must be ≥ 0"),
    ("voc_map", "time_target_s", 0.0, "config.time_target_s must be > 0"),
    ("voc_map", "speedup_target", -1.0, "config.speedup_target must be > 0"),
    # random_erasing
    ("random_erasing", "num_chunks", 0, "config.num_chunks must be ≥ 1"),
    ("random_erasing", "updates_per_chunk", 0, "config.updates_per_chunk must be ≥ 1"),
    ("random_erasing", "batch_size", 0, "config.batch_size must be ≥ 1"),
    ("random_erasing", "learning_rate", 0.0, "config.learning_rate must be > 0"),
    ("random_erasing", "test_fraction", 1.0, "config.test_fraction must be in (0, 1)"),
    ("random_erasing", "split_seed", -1, "config.split_seed must be ≥ 0"),
    ("random_erasing", "erasing_probability", 1.5, "config.erasing_probability"),
    ("random_erasing", "erasing_probability", -0.1, "config.erasing_probability"),
    ("random_erasing", "erasing_scale", (0.5, 0.2), "config.erasing_scale must be (s_l, s_h)"),
    ("random_erasing", "erasing_scale", (0.0, 0.2), "config.erasing_scale must be (s_l, s_h)"),
    ("random_erasing", "erasing_ratio", 0.0, "config.erasing_ratio (r_1) must be in (0, 1]"),
    ("random_erasing", "erasing_ratio", 2.0, "config.erasing_ratio (r_1) must be in (0, 1]"),
    ("random_erasing", "occlusion_fractions", (0.0, 1.5), "config.occlusion_fractions"),
    ("random_erasing", "occlusion_fractions", (), "config.occlusion_fractions"),
    ("random_erasing", "occlusion_ratio", (2.0, 0.5), "config.occlusion_ratio must be (r_1, r_2)"),
    ("random_erasing", "occlusion_ratio", (0.0, 2.0), "config.occlusion_ratio must be (r_1, r_2)"),
    ("random_erasing", "occlusion_fill", "white", "config.occlusion_fill must be one of"),
    ("random_erasing", "features", (8, 0), "config.features must be positive"),
    ("random_erasing", "hidden", -1, "config.hidden ≥ 0"),
    # mqar
    ("mqar", "kinds", ("softmax", "cosine"), "config.kinds"),
    ("mqar", "kinds", (), "config.kinds"),
    ("mqar", "sampling_kinds", ("flash",), "config.sampling_kinds must be a subset"),
    ("mqar", "num_heads", 0, "config.num_heads must be >= 1"),
    ("mqar", "num_heads", 3, "config.num_heads (3) must divide 64"),
    ("mqar", "widths", (0,), "config.widths must be multiples of num_heads"),
    ("mqar", "widths", (), "config.widths must be multiples of num_heads"),
    ("mqar", "pairs", (4, 2), "config.pairs must be increasing"),
    ("mqar", "pairs", (0, 2), "config.pairs must be counts >= 1"),
    ("mqar:smoke", "pairs", (2, 9), "distinct"),
    ("mqar", "seq_len", 8, "too short"),
    ("mqar", "vocab_size", 31, "vocab_size must be an even number"),
    ("mqar", "num_layers", 0, "config.num_layers must be >= 1"),
    ("mqar", "mlp", "relu", "config.mlp must be 'mlp' or 'glu'"),
    ("mqar", "mlp_ratio", 0, "config.mlp_ratio must be >= 1"),
    ("mqar", "conv_size", -1, "config.conv_size must be >= 0"),
    ("mqar", "block_size", 0, "config.block_size must be >= 1"),
    ("mqar", "num_features", 0, "config.num_features must be >= 1"),
    ("mqar", "chunk_size", 0, "config.chunk_size must be >= 1"),
    ("mqar", "num_chunks", 0, "config.num_chunks and config.updates_per_chunk must be >= 1"),
    ("mqar", "updates_per_chunk", 0, "config.num_chunks and config.updates_per_chunk"),
    ("mqar", "batch_size", 0, "config.batch_size must be >= 1 and config.learning_rate > 0"),
    ("mqar", "learning_rate", 0.0, "config.batch_size must be >= 1 and config.learning_rate"),
    ("mqar", "warmup_fraction", 1.5, "config.warmup_fraction must be in [0, 1]"),
    ("mqar", "weight_decay", -0.1, "config.weight_decay must be >= 0"),
    ("mqar", "grad_clip", 0.0, "config.grad_clip must be > 0"),
    ("mqar", "eval_size", 0, "config.eval_size must be >= 1"),
    # performer_kernel
    ("performer_kernel", "num_features", (32, 16), "config.num_features must be increasing"),
    ("performer_kernel", "num_features", (0, 16), "config.num_features must be increasing"),
    ("performer_kernel", "dim", 1, "config.dim must be ≥ 2"),
    ("performer_kernel", "scales", (0.0, 1.0), "config.scales must be positive"),
    ("performer_kernel", "angles_deg", (190.0,), "config.angles_deg must be angles in [0, 180]"),
    ("performer_kernel", "scaling", "none", "config.scaling must be 'chi' or 'sqrt_d'"),
    *[("performer_kernel", f, 0, f"config.{f} must be ≥ 1") for f in (
        "num_chunks", "batches_per_chunk", "draws_per_batch")],
    ("performer_kernel", "num_features", (16, 24), "must be a multiple of config.dim"),
    ("performer_kernel", "reference_features", 48, "config.reference_features (48) must be one"),
    ("performer_kernel", "mse_vs_m_inputs", ((3.0, 90.0),), "is not among the scales"),
    ("performer_kernel", "mse_vs_m_inputs", (1.0, 150.0), "must be (r, θ) pairs"),
    ("performer_kernel", "angle_plot_scales", (3.0,), "config.angle_plot_scales: 3.0 is not"),
    # attention_scaling
    ("attention_scaling", "num_seeds", 2, "config.num_seeds must be 1"),
    ("attention_scaling", "seq_lens", (128, 64), "config.seq_lens must be increasing"),
    ("attention_scaling", "seq_lens", (0, 64), "config.seq_lens must be increasing"),
    ("attention_scaling", "variants", ("dot_product_attention", "flash"), "unknown ['flash']"),
    ("attention_scaling", "variants", ("linear",), "must include 'dot_product_attention'"),
    ("attention_scaling", "causal", (), "config.causal must list at least one"),
    *[("attention_scaling", f, 0, f"config.{f} must be ≥ 1") for f in (
        "batch", "heads", "head_dim", "num_features", "chunk_size", "block_size", "repeats",
        "matmul_size", "matmul_repeats", "check_len", "slope_from_len", "target_len")],
    ("attention_scaling", "softmax_max_len", 100, "config.softmax_max_len (100) must be ≥"),
    ("attention_scaling", "performer_kind", "cos", "config.performer_kind must be"),
    ("attention_scaling", "single_run_s", -1.0, "config.single_run_s must be ≥ 0"),
    *[("attention_scaling", f, 0.0, f"config.{f} must be > 0") for f in (
        "causal_speedup_target", "noncausal_speedup_target", "linear_memory_slope_max")],
    ("attention_scaling", "input_seed", -1, "config.input_seed must be ≥ 0"),
    # llm_rl
    ("llm_rl", "num_chunks", 0, "config.num_chunks and config.iterations_per_chunk must be ≥ 1"),
    ("llm_rl", "iterations_per_chunk", 0, "config.num_chunks and config.iterations_per_chunk"),
    ("llm_rl", "max_digits", 0, "config.max_digits must be in [1, 8]"),
    ("llm_rl", "max_digits", 9, "config.max_digits must be in [1, 8]"),
    ("llm_rl", "max_new_tokens", 5, "config.max_new_tokens must be ≥ max_digits + 4"),
    ("llm_rl", "overlong_cache", 0, "config.overlong_cache must be in (0, max_new_tokens]"),
    ("llm_rl", "overlong_cache", 9, "config.overlong_cache must be in (0, max_new_tokens]"),
    ("llm_rl", "group_size", 1, "config.group_size must be ≥ 2"),
    ("llm_rl", "prompts_per_iteration", 0, "config.prompts_per_iteration and config.pool_factor"),
    ("llm_rl", "pool_factor", 0, "config.prompts_per_iteration and config.pool_factor"),
    ("llm_rl", "num_minibatches", 0, "config.num_minibatches must be ≥ 1"),
    ("llm_rl", "num_minibatches", 3, "config.num_minibatches must divide N·G = 64"),
    ("llm_rl", "epochs", 0, "config.epochs must be ≥ 1"),
    ("llm_rl", "eval_problems", 0, "config.eval_problems × config.eval_samples"),
    ("llm_rl", "eval_samples", 0, "config.eval_problems × config.eval_samples"),
    ("llm_rl", "eval_problems", 161, "multiple of config.iterations_per_chunk"),
    ("llm_rl", "threshold", 1.5, "config.threshold must be in [0, 1]"),
    *[("llm_rl", f, 0, f"config.{f} must be ≥ 1") for f in (
        "num_layers", "width", "num_heads", "mlp_ratio", "value_hidden")],
    ("llm_rl", "width", 66, "config.width must be a multiple of num_heads"),
    ("llm_rl", "sft_steps", -1, "config.sft_steps must be ≥ 0"),
    ("llm_rl", "sft_batch", 0, "config.sft_batch must be ≥ 1"),
    ("llm_rl", "sft_lr", 0.0, "config.sft_lr must be > 0"),
    ("llm_rl", "sft_corrupt", 1.5, "config.sft_corrupt must be in [0, 1]"),
    ("llm_rl", "sft_corrupt_kinds", (1.0, 1.0), "config.sft_corrupt_kinds must be 3 weights"),
    ("llm_rl", "sft_corrupt_kinds", (1.0, -1.0, 1.0), "config.sft_corrupt_kinds must be 3"),
    ("llm_rl", "sft_corrupt_kinds", (0.0, 0.0, 0.0), "with a positive sum"),
    ("llm_rl", "temperature", 0.0, "config.temperature must be > 0"),
    ("llm_rl", "gae_lambda", 1.5, "config.gae_lambda must be in [0, 1]"),
    ("llm_rl", "value_coef", -0.5, "config.value_coef must be ≥ 0"),
    ("llm_rl", "arms", (), "config.arms must name at least one arm"),
    ("llm_rl", "arms", ("grpo", "nope"), "config.arms: 'nope' has no arm_settings entry"),
    ("llm_rl", "arm_settings.grpo.advantage", "ppo", "config.arm_settings.grpo.advantage"),
    ("llm_rl", "arm_settings.grpo.aggregation", "token-sum", "config.arm_settings.grpo.aggreg"),
    ("llm_rl", "arm_settings.grpo.eps_low", -0.2, "config.arm_settings.grpo.eps_low must be ≥ 0"),
    ("llm_rl", "arm_settings.ppo.eps_high", -0.1, "config.arm_settings.ppo.eps_high must be ≥ 0"),
    ("llm_rl", "arm_settings.grpo.dual_clip", 0.5, "config.arm_settings.grpo.dual_clip must be"),
    ("llm_rl", "arm_settings.grpo.kl_loss_coef", -0.04, "grpo.kl_loss_coef must be ≥ 0"),
    ("llm_rl", "arm_settings.ppo.kl_reward_coef", -0.05, "ppo.kl_reward_coef must be ≥ 0"),
    ("llm_rl", "arm_settings.ppo_max.reward_norm", 0.5, "ppo_max.reward_norm must be 0 (off)"),
    ("llm_rl", "arm_settings.ppo.whiten", 2.0, "ppo.whiten must be 0 (off) or 1 (on)"),
    ("llm_rl", "arm_settings.grpo.overlong_filter", -1.0, "grpo.overlong_filter must be 0"),
    ("llm_rl", "arm_settings.grpo.dynamic_sampling", 0.5, "grpo.dynamic_sampling must be 0"),
    ("llm_rl", "arm_settings.grpo.overlong_penalty", -1.0, "grpo.overlong_penalty must be ≥ 0"),
    ("llm_rl", "arm_settings.ppo_max.value_clip", -0.2, "ppo_max.value_clip must be ≥ 0"),
    ("llm_rl", "arm_settings.grpo.max_grad_norm", -1.0, "grpo.max_grad_norm must be ≥ 0"),
    ("llm_rl", "arm_settings.ppo_max.critic_warmup", -1, "ppo_max.critic_warmup must be an"),
    ("llm_rl", "learning_rate", 0.0, "config.learning_rate must be > 0"),
    ("llm_rl", "learning_rate", -3e-4, "config.learning_rate must be > 0"),
    ("llm_rl", "arm", 11, "config.arm must index config.arms (0..10), got 11"),
    ("llm_rl", "arm", -1, "config.arm must index config.arms (0..10), got -1"),
]


@pytest.mark.parametrize("spec, field, value, fragment", BAD,
                         ids=[f"{s}-{f}={v!r}" for s, f, v, _ in BAD])
def test_bad_value_is_refused_with_one_line(spec, field, value, fragment):
  c = with_field(config(spec), field, value)
  with pytest.raises(ConfigError, match=re.escape(fragment)) as e:
    module(spec.split(":")[0]).check_config(c)
  assert "\n" not in str(e.value)


def test_the_table_covers_every_experiment():
  assert {spec.split(":")[0] for spec, *_ in BAD} == set(NAMES)


# --- (c) every sweepable hyperparameter has a refused value ---------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_sweepable_hyperparameter_has_a_refused_value(name):
  m = module(name)
  source = inspect.getsource(m)
  if not hasattr(m, "HPARAMS"):   # nothing to sweep: the Experiment gets no hparams
    assert "hparams=" not in source
    return
  assert re.search(r"hparams=\{k: .* for k in HPARAMS\}", source), "hparams must come from HPARAMS"
  assert len(m.HPARAMS) == len(set(m.HPARAMS)) >= 1
  refused = {field for spec, field, _, _ in BAD if spec.split(":")[0] == name}
  assert set(m.HPARAMS) <= refused, set(m.HPARAMS) - refused
  c = config(name)
  for field in m.HPARAMS:
    assert field in c, field
