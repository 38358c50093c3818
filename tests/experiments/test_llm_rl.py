"""The LLM-RL experiment: the arm table, config checks, one RL iteration, and the report."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import llm_rl as llm_rl_config
from experiments import llm_rl
from research import runtime


def test_arm_table_encodes_the_arms():
  c = llm_rl_config.get_config()
  table = llm_rl.arm_switches(c)
  arm = {name: i for i, name in enumerate(c.arms)}
  assert len(c.arms) == 11 and c.sweep == "arm=" + ",".join(map(str, range(11)))
  modes = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")
  agg = lambda name: modes[int(np.argmax(table["aggregation"][arm[name]]))]
  adv = lambda name: llm_rl.ADVANTAGES[table["advantage"][arm[name]]]
  get = lambda field, name: float(table[field][arm[name]])
  assert agg("grpo") == "seq-mean-token-mean" and get("kl_loss_coef", "grpo") == pytest.approx(0.04)
  assert get("kl_loss_coef", "naive_grpo") == 0.0
  assert adv("ppo") == adv("ppo_max") == "gae" and get("kl_reward_coef", "ppo") > 0
  assert get("reward_norm", "ppo_max") == 1 and get("value_clip", "ppo_max") > 0
  assert get("critic_warmup", "ppo_max") > 0 and get("reward_norm", "ppo") == 0
  assert adv("dr_grpo") == "dr_grpo" and agg("dr_grpo") == "seq-mean-token-sum-norm"
  assert adv("reinforce_mean") == "batch_mean" and get("eps_low", "reinforce_mean") == 0
  # The DAPO ladder: each row adds one technique to the previous one.
  ladder = ["naive_grpo", "dapo_overlong_filter", "dapo_clip_higher", "dapo_soft_overlong",
            "dapo_token_level", "dapo_dynamic_sampling"]
  rows = [{k: np.asarray(v[arm[n]]).tolist() for k, v in table.items()} for n in ladder]
  changed = [sorted(k for k in rows[i] if rows[i][k] != rows[i + 1][k]) for i in range(5)]
  assert changed == [["overlong_filter"], ["eps_high"], ["overlong_penalty"], ["aggregation"],
                     ["dynamic_sampling"]]
  assert get("eps_high", "dapo_clip_higher") == pytest.approx(0.28)
  assert get("eps_low", "dapo_clip_higher") == pytest.approx(0.2)


def test_variants_select_one_arm_and_bad_values_fail(tmp_path):
  for i, name in enumerate(llm_rl_config.ARMS):
    c = llm_rl_config.get_config(name)
    assert c.sweep == f"arm={i}"
  c = llm_rl_config.get_config("smoke,grpo")
  assert c.sweep == "arm=3" and c.num_seeds == 1
  bad = llm_rl_config.get_config("smoke")
  bad.sweep = "arm=0,11"
  with pytest.raises(runtime.ConfigError, match=r"sweep point arm=11: config.arm must index"):
    runtime.run(llm_rl.make(bad), bad, tmp_path, progress=False)   # refused before compiling
  bad = llm_rl_config.get_config("smoke")
  bad.arm_settings.grpo.aggregation = "token-sum"
  with pytest.raises(runtime.ConfigError, match="aggregation"):
    llm_rl.make(bad)
  bad = llm_rl_config.get_config("smoke")
  bad.eval_problems, bad.eval_samples = 3, 1
  with pytest.raises(runtime.ConfigError, match="iterations_per_chunk"):
    llm_rl.make(bad)


def test_rl_iterations_on_a_tiny_setting():
  """Two arms (PPO-max and DAPO) vmapped, one chunk: shapes, finite metrics, bookkeeping."""
  c = llm_rl_config.get_config("smoke")
  setup = llm_rl.Setup(c)
  arms = jnp.array([2, 9])   # ppo_max (critic warm-up), dapo_dynamic_sampling
  init = jax.jit(jax.vmap(lambda k, a: setup.init(k, {"arm": a, "learning_rate": 1e-3})))
  state = init(jax.random.split(jax.random.key(0), 2), arms)
  # Every member starts from the same (SFT) policy, which is also the reference.
  for leaf, ref in zip(jax.tree.leaves(state["params"]), jax.tree.leaves(state["ref"]),
                       strict=True):
    np.testing.assert_array_equal(leaf[0], leaf[1])
    np.testing.assert_array_equal(leaf, ref)
  new, metrics = jax.jit(jax.vmap(setup.step))(state)
  for name, value in metrics.items():
    assert value.shape == (2,), name
    assert np.isfinite(np.asarray(value)).all(), name
  ipc = c.iterations_per_chunk
  np.testing.assert_array_equal(new["iteration"], [ipc, ipc])
  batch = c.prompts_per_iteration * c.group_size
  assert float(metrics["samples_chunk"][0]) == ipc * batch          # no dynamic sampling
  assert batch * ipc <= float(metrics["samples_chunk"][1]) <= c.pool_factor * batch * ipc
  # PPO-max's policy is frozen during its critic warm-up.
  assert int(c.arm_settings.ppo_max.critic_warmup) >= ipc
  for before, after in zip(jax.tree.leaves(state["params"]), jax.tree.leaves(new["params"]),
                           strict=True):
    np.testing.assert_array_equal(before[0], after[0])
  assert 0.0 <= float(metrics["heldout_accuracy"][0]) <= 1.0


def _fake_run(num_seeds=3, num_chunks=4):
  c = llm_rl_config.get_config()
  c.num_seeds, c.num_chunks = num_seeds, num_chunks
  members = runtime.build_members(num_seeds=num_seeds, defaults={"arm": 0, "learning_rate": 1e-3},
                                  sweep=c.sweep)
  m = members.num_members
  rng = np.random.default_rng(0)
  arm = members.hparams["arm"].astype(float)
  ramp = np.linspace(0.4, 0.9, num_chunks)[:, None] * (1 + 0.01 * arm)[None, :]
  names = ["heldout_accuracy", "start_train_accuracy", "train_accuracy", "entropy", "len_all",
           "len_correct", "len_wrong", "truncated_frac", "clip_frac_low", "clip_frac_high",
           "approx_kl", "kl_ref", "informative_frac", "samples_per_kept_prompt"]
  history = {n: rng.uniform(0.0, 1.0, (num_chunks, m)) for n in names}
  history["heldout_accuracy"] = np.clip(ramp + rng.normal(0, 0.02, (num_chunks, m)), 0, 1)
  history["samples_total"] = np.cumsum(np.full((num_chunks, m), 1280.0), axis=0)
  info = runtime.RunInfo(c, members, 1, 1, 10.0, 100.0, num_chunks)
  return c, history, info


def test_report_layout():
  c, history, info = _fake_run()
  report = llm_rl._report(c, {}, history, info)
  main = report.tables[0]
  assert [row[0] for row in main.rows] == list(c.arms)
  assert main.columns[2] == "final held-out acc. (%)"
  assert all("±" in row[2] for row in main.rows)
  names = {p.name for p in report.plots}
  assert names >= {"heldout_accuracy_dapo_ladder", "heldout_accuracy_baselines"}
  assert all(len(p.series) <= 7 for p in report.plots)   # one colour per line
  assert "dapo_clip_higher − dapo_overlong_filter" in report.notes
  # Steps to the threshold: the first chunk end at or above it.
  got = llm_rl._first_crossing(np.array([[0.1, 0.85, 0.7, 0.9], [0.1, 0.2, 0.3, 0.4]]),
                               np.array([0, 10, 20, 30]), 0.8)
  np.testing.assert_array_equal(got, [10, np.nan])
