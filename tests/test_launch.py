"""The launcher end to end: one-line config errors, a real kill and resume, SIGTERM."""

import json
import pathlib
import signal
import time

import pytest

# A gridworld_td run with slow enough chunks to be interrupted in the middle.
INTERRUPTIBLE = ["--config=configs/gridworld_td.py:smoke", "--config.num_seeds=3",
                 "--config.num_chunks=8", "--config.episodes=64", "--config.max_episode_steps=200",
                 "--config.td_steps=160000", "--config.offpolicy_steps=160000",
                 "--config.checkpoint_every=2", "--config.keep_checkpoints=2"]


@pytest.mark.parametrize("args, message", [
    (["--config=configs/nope.py"], "--config: no such file 'configs/nope.py'"),
    (["--config=configs/gridworld_dp.py:bogus"],
     "unknown config variant 'bogus' for gridworld_dp; allowed: smoke"),
    (["--config=configs/gridworld_dp.py", "--config.nmu_seeds=3"],
     "--config.nmu_seeds: unknown field 'nmu_seeds' in config; fields:"),
    (["--config=configs/gridworld_dp.py", "--config.num_seeds=three"],
     "--config.num_seeds: 'three' is not an integer"),
    (["--config=configs/gridworld_dp.py", "--config.tol=-1"], "config.tol must be > 0"),
    (["--config=configs/gridworld_td.py:smoke", "--config.sweep=foo=1,2"],
     "config.sweep: 'foo' cannot be swept; sweepable fields: alpha, epsilon"),
    (["--config=configs/gridworld_dp.py", "--config.discounts=(0.9, 1.5)"],
     "config.discounts: each must be in [0, 1)"),
    (["--config=configs/gridworld_td.py:smoke", "--config.episodes=3"],
     "config.episodes (3) must be a positive multiple of config.num_chunks (2)"),
    # A swept value is checked as the same value given directly is.
    (["--config=configs/ppo.py:smoke", "--config.lr=-1"], "config.lr must be > 0, got -1.0"),
    (["--config=configs/ppo.py:smoke", "--config.sweep=lr=0.001,-1"],
     "config.sweep point lr=-1: config.lr must be > 0, got -1.0"),
    (["--config=configs/ppo.py:smoke", "--config.clip_eps=-0.2"], "config.clip_eps must be > 0"),
    (["--config=configs/gridworld_td.py:smoke", "--config.sweep=epsilon=0.1,1.5"],
     "config.sweep point epsilon=1.5: config.epsilon must be in [0, 1]"),
    (["--config=configs/llm_rl.py:smoke", "--config.sweep=arm=0,1.5"],
     "config.sweep: arm=1.5 is not an integer"),
    (["--config=configs/llm_rl.py:smoke", "--config.sweep=arm=grpo,nope"],
     "config.sweep: arm=nope is not one of reinforce_mean, ppo, ppo_max, grpo"),
    (["--config=configs/gridworld_dp.py:smoke", "--config.keep_checkpoints=0"],
     "config.keep_checkpoints ≥ 1"),
])
def test_bad_command_lines_print_one_clear_line(launch, args, message, tmp_path):
  result = launch(*args, f"--workdir={tmp_path}", timeout=300)
  assert result.returncode == 2, result.stderr
  assert "Traceback" not in result.stderr
  lines = [x for x in result.stderr.splitlines() if x.startswith("error:")]
  assert len(lines) == 1 and message in lines[0], result.stderr


def _completed_checkpoints(workdir: pathlib.Path):
  folder = workdir / "checkpoints"
  if not folder.exists():
    return []
  return sorted(int(p.name) for p in folder.iterdir()
                if p.name.isdigit() and (p / "_CHECKPOINT_METADATA").exists())


def _interrupt(launch, workdir, sig):
  """Starts a run, sends `sig` once a checkpoint before the last chunk exists; returns output."""
  proc = launch(*INTERRUPTIBLE, f"--workdir={workdir}", background=True)
  deadline = time.time() + 300
  while time.time() < deadline and proc.poll() is None:
    if any(0 < c < 8 for c in _completed_checkpoints(workdir)):
      proc.send_signal(sig)
      break
    time.sleep(0.02)
  out, _ = proc.communicate(timeout=300)
  assert not (workdir / "results.md").exists(), "the run finished before it could be interrupted"
  return proc.returncode, out


def _final_outputs(workdir):
  lines = (workdir / "metrics.jsonl").read_text().splitlines()
  return lines, (workdir / "results.csv").read_text()


@pytest.fixture(scope="module")
def uninterrupted(launch, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("uninterrupted")
  result = launch(*INTERRUPTIBLE, f"--workdir={workdir}")
  assert result.returncode == 0, result.stderr
  return _final_outputs(workdir)


def test_killed_run_resumes_bit_identically(launch, uninterrupted, tmp_path):
  code, out = _interrupt(launch, tmp_path, signal.SIGKILL)
  assert code == -signal.SIGKILL, out
  result = launch(*INTERRUPTIBLE, f"--workdir={tmp_path}")
  assert result.returncode == 0, result.stderr
  assert "resumed from checkpoint at chunk" in result.stdout
  lines, csv = _final_outputs(tmp_path)
  assert [json.loads(x)["chunk"] for x in lines] == list(range(8))
  assert lines == uninterrupted[0]
  assert csv == uninterrupted[1]


def test_compilation_cache_is_filled(launch, uninterrupted):
  """The persistent compilation cache holds the launch's programs (second launches reuse them)."""
  del uninterrupted
  assert len(list(pathlib.Path(launch.cache_dir).iterdir())) >= 2


def test_sigterm_saves_exits_cleanly_and_resumes(launch, uninterrupted, tmp_path):
  code, out = _interrupt(launch, tmp_path, signal.SIGTERM)
  assert code == 0, out
  assert "preempted (SIGTERM): saved chunk" in out and "Traceback" not in out
  result = launch(*INTERRUPTIBLE, f"--workdir={tmp_path}")
  assert result.returncode == 0, result.stderr
  assert _final_outputs(tmp_path) == uninterrupted


def test_four_devices_give_the_same_results_as_one(launch, tmp_path):
  """5 members padded to 8 over 4 fake CPU devices: identical metrics to a 1-device run."""
  import os

  args = ["--config=configs/gridworld_td.py:smoke", "--config.num_seeds=5"]
  one = launch(*args, f"--workdir={tmp_path / 'one'}")
  four = launch(*args, f"--workdir={tmp_path / 'four'}",
                env={**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
  assert one.returncode == 0 and four.returncode == 0, one.stderr + four.stderr
  assert "on 4 device(s)" in four.stdout and "on 1 device(s)" in one.stdout
  assert _final_outputs(tmp_path / "one") == _final_outputs(tmp_path / "four")


def _error_line(result):
  assert result.returncode == 2, result.stdout + result.stderr
  assert "Traceback" not in result.stderr
  lines = [x for x in result.stderr.splitlines() if x.startswith("error:")]
  assert len(lines) == 1, result.stderr
  return lines[0]


def test_a_changed_override_never_resumes_the_old_run(launch, tmp_path):
  """The audit's case: ppo:smoke, then the same work directory with another lr or network."""
  workdir = f"--workdir={tmp_path}"
  first = launch("--config=configs/ppo.py:smoke", workdir)
  assert first.returncode == 0, first.stderr
  results = (tmp_path / "results.md").read_text()
  line = _error_line(launch("--config=configs/ppo.py:smoke", "--config.lr=0.1", workdir))
  assert "holds a run of another config (lr: 0.00025 → 0.1)" in line and "--restart" in line
  line = _error_line(launch("--config=configs/ppo.py:smoke", "--config.hidden_sizes=(8, 8)",
                            workdir))
  assert "hidden_sizes: [16, 16] → [8, 8]" in line
  assert json.loads((tmp_path / "config.json").read_text())["lr"] == 0.00025
  assert (tmp_path / "results.md").read_text() == results
  again = launch("--config=configs/ppo.py:smoke", "--config.hidden_sizes=(8, 8)", workdir,
                 "--restart")
  assert again.returncode == 0, again.stderr
  assert "--restart: deleted the run" in again.stdout and "resumed" not in again.stdout
  assert json.loads((tmp_path / "config.json").read_text())["hidden_sizes"] == [8, 8]


@pytest.mark.parametrize("workdir, why", [
    ("/proc/nope", "work directory '/proc/nope' cannot be created or written"),
    ("/etc/hostname", "work directory '/etc/hostname' is a file, not a directory"),
])
def test_an_unusable_work_directory_is_one_line(launch, workdir, why):
  assert why in _error_line(launch("--config=configs/gridworld_dp.py:smoke",
                                   f"--workdir={workdir}"))


def test_a_slurm_allocation_without_srun_runs_as_one_process(launch, tmp_path):
  """SLURM's variables of a 4-task allocation, but one plain process: no waiting for the rest."""
  import os

  env = {**os.environ, "SLURM_NTASKS": "4", "SLURM_JOB_ID": "7", "SLURM_PROCID": "0",
         "SLURM_LOCALID": "0", "SLURM_STEP_NODELIST": "localhost"}
  result = launch("--config=configs/gridworld_dp.py:smoke", f"--workdir={tmp_path}", env=env,
                  timeout=240)
  assert result.returncode == 0, result.stderr
  assert "SLURM allocation of 4 tasks, but this is one process" in result.stdout
  assert "1 process(es)" in result.stdout
