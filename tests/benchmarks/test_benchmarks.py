"""Each benchmark runs end to end at a tiny size and prints its table (no timing is asserted)."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _run(*args, timeout=300):
  result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
  assert result.returncode == 0, result.stderr[-2000:]
  return result.stdout


def test_bench_tabular_prints_both_comparisons():
  out = _run("benchmarks.bench_tabular", "--states", "40", "--actions", "3", "--repeats", "1",
             "--launcher_config", "configs/gridworld_td.py:smoke")
  assert "research.rl.value_iteration" in out and "runtime.run" in out


def test_bench_ppo_runs_ours_and_purejaxrl():
  out = _run("benchmarks.bench_ppo", "--seeds", "2", "--timesteps", "8192")
  rows = [line for line in out.splitlines() if line.startswith("| ")]
  assert any(r.startswith("| ours") for r in rows) and any("PureJaxRL" in r for r in rows), out


@pytest.mark.parametrize("kind", ["softmax", "linear"])
def test_bench_decoding_times_generate_and_scoring(kind):
  from benchmarks import bench_decoding

  result = bench_decoding.bench(kind, batch=2, new_tokens=4, width=16, vocab=16)
  assert result["kind"] == kind and result["sample_s"] > 0 and result["score_s"] > 0


def test_llm_rl_iteration_seconds_times_the_smoke_config():
  from configs import llm_rl as llm_rl_config
  from experiments import llm_rl

  config = llm_rl_config.get_config("smoke")
  config.eval_problems, config.eval_samples = config.iterations_per_chunk, 1
  first, seconds = llm_rl.iteration_seconds(config, repeats=1)
  assert first > 0 and seconds > 0
