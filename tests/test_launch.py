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
