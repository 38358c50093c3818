"""A work directory is one run: changed configs are refused, longer runs extend, saves never
silently do nothing, resumes do not run `init`, every sweep point is checked."""

import json
import shutil

import numpy as np
import pytest

from research import runtime
from research.runtime import cli
from research.runtime import workdir as workdir_lib
from tests.runtime import toy


def _estimates(result):
  return np.asarray([row[1] for row in result.report.tables[0].rows])


def _run(workdir, *, make=None, messages=None, **config):
  return runtime.run(make or toy.make(), toy.config(**config), workdir, progress=False,
                     echo=(messages.append if messages is not None else lambda _: None),
                     restart=config.pop("_restart", False) if "_restart" in config else False)


def test_a_changed_config_is_refused_naming_the_fields(tmp_path):
  first = _run(tmp_path, sweep="mu=0.0,2.0")
  before = (tmp_path / "results.csv").read_text()
  with pytest.raises(runtime.ConfigError,
                     match=r"holds a run of another config \(num_seeds: 3 → 4; sweep: "
                           r"'mu=0.0,2.0' → 'mu=0.0,3.0'\); choose another --workdir, or add "
                           r"--restart"):
    _run(tmp_path, sweep="mu=0.0,3.0", num_seeds=4)
  # Nothing of the first run was touched: config.json, results and checkpoints still agree.
  assert json.loads((tmp_path / "config.json").read_text())["sweep"] == "mu=0.0,2.0"
  assert (tmp_path / "results.csv").read_text() == before
  again = _run(tmp_path, sweep="mu=0.0,2.0")   # the same config resumes (here: re-reports)
  np.testing.assert_array_equal(_estimates(first), _estimates(again))


def test_runtime_only_fields_may_change(tmp_path):
  _run(tmp_path, num_chunks=4)
  messages = []
  _run(tmp_path, num_chunks=4, checkpoint_every=3, keep_checkpoints=5, nan_guard=False,
       messages=messages)
  assert any("resumed from checkpoint at chunk 4/4" in m for m in messages)


def test_restart_deletes_the_old_run_and_starts_the_new_one(tmp_path):
  (tmp_path / "notes.txt").write_text("mine")   # not the run's: kept
  _run(tmp_path, sweep="mu=0.0,2.0")
  messages = []
  result = runtime.run(toy.make(), toy.config(sweep="mu=5.0"), tmp_path, progress=False,
                       restart=True, echo=messages.append)
  assert any(m.startswith("--restart: deleted the run in") for m in messages)
  assert not any("resumed" in m for m in messages)
  expected = np.mean([toy.reference_estimate(0, s, 5.0, 4) for s in range(3)])
  assert _estimates(result)[0] == pytest.approx(expected, rel=1e-5)
  assert json.loads((tmp_path / "config.json").read_text())["sweep"] == "mu=5.0"
  assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_longer_run_of_the_same_config_extends_it(tmp_path):
  full = _run(tmp_path / "full", make=toy.make(num_chunks=6), num_chunks=6)
  _run(tmp_path / "b", make=toy.make(num_chunks=3), num_chunks=3)
  messages = []
  longer = _run(tmp_path / "b", make=toy.make(num_chunks=6), num_chunks=6, messages=messages)
  assert any("resumed from checkpoint at chunk 3/6" in m for m in messages)
  assert longer.info.chunks_run == 6   # the run's timings cover both launches
  np.testing.assert_array_equal(_estimates(full), _estimates(longer))
  assert workdir_lib.read_record(tmp_path / "b").config["num_chunks"] == 6


def test_more_chunks_that_change_each_chunk_are_refused(tmp_path):
  # Like a fixed budget split into num_chunks: each chunk's work depends on the count.
  _run(tmp_path, make=toy.make(num_chunks=2, draws_per_chunk=32), num_chunks=2)
  with pytest.raises(runtime.ConfigError, match="num_chunks 2 → 4 changes what each chunk "
                                                "computes in this experiment"):
    _run(tmp_path, make=toy.make(num_chunks=4, draws_per_chunk=16), num_chunks=4)


def test_a_checkpoint_of_other_shapes_is_a_mismatch_not_corruption(tmp_path, capsys):
  _run(tmp_path, num_seeds=3)
  # As if the code changed the state's shapes under the same config: the record says 4 seeds.
  record = workdir_lib.read_record(tmp_path)
  workdir_lib.write_record(tmp_path, record._replace(config={**record.config, "num_seeds": 4}))
  with pytest.raises(runtime.ConfigError,
                     match=r"checkpoint 4 in .* does not match this run's state: state\.\w+ is "
                           r"\(3,.*\) .* and \(4,.*\) .* in this run"):
    _run(tmp_path, num_seeds=4)
  assert "unreadable" not in capsys.readouterr().out


def test_checkpoints_without_a_record_are_refused(tmp_path):
  _run(tmp_path)
  (tmp_path / "checkpoints" / workdir_lib.RECORD).unlink()
  with pytest.raises(runtime.ConfigError, match="without a record of the config"):
    _run(tmp_path)


def test_after_a_corrupt_checkpoint_the_run_saves_again(tmp_path, capsys):
  _run(tmp_path / "a", make=toy.make(num_chunks=4), keep_checkpoints=4, checkpoint_every=1)
  b = tmp_path / "b"
  _run(b, make=toy.make(num_chunks=4), keep_checkpoints=4, checkpoint_every=1)
  for step in ("3", "4"):  # the last two saves were killed halfway: garbage files
    for f in (b / "checkpoints" / step).rglob("*"):
      if f.is_file() and f.stat().st_size > 0 and "METADATA" not in f.name:
        f.write_bytes(b"garbage")
  messages = []
  resumed = _run(b, make=toy.make(num_chunks=4), keep_checkpoints=4, checkpoint_every=1,
                 messages=messages)
  out = capsys.readouterr().out
  assert "checkpoint 4 is unreadable" in out and "deleted unreadable checkpoint 3" in out
  assert any("resumed from checkpoint at chunk 2/4" in m for m in messages)
  # The run saved chunks 3 and 4 again (orbax declines steps at or before its latest one, so the
  # garbage must be gone), and a relaunch restores the final checkpoint.
  messages = []
  again = _run(b, make=toy.make(num_chunks=4), keep_checkpoints=4, checkpoint_every=1,
               messages=messages)
  assert any("resumed from checkpoint at chunk 4/4" in m for m in messages)
  np.testing.assert_array_equal(_estimates(resumed), _estimates(again))


def test_a_declined_save_raises(tmp_path):
  from research.runtime.checkpoint import Checkpointer

  ckpt = Checkpointer(tmp_path, every=1, keep=2)
  tree = {"x": np.zeros(3)}
  ckpt.save(2, tree)
  ckpt.wait()
  with pytest.raises(RuntimeError, match="checkpoint 1 was not saved"):
    ckpt.save(1, tree)
  ckpt.close()


def test_resume_does_not_run_init(tmp_path):
  calls = []
  make = lambda: toy.make(num_chunks=2, on_init=lambda: calls.append(1))
  _run(tmp_path, make=make())
  assert len(calls) == 1
  messages = []
  _run(tmp_path, make=make(), messages=messages)
  assert any("resumed from checkpoint at chunk 2/2" in m for m in messages)
  assert len(calls) == 1
  shutil.rmtree(tmp_path / "checkpoints" / "2")   # resume from chunk 1 and run one more
  _run(tmp_path, make=make(), messages=messages)
  assert len(calls) == 1


def _mu_at_least_zero(config):
  runtime.require(config.mu >= 0, f"config.mu must be ≥ 0, got {config.mu}")


def test_every_sweep_point_is_checked_as_a_plain_value_is(tmp_path):
  make = lambda: toy.make(check_config=_mu_at_least_zero)
  _run(tmp_path / "ok", make=make(), mu=1.0, sweep="mu=0.0,2.0")
  with pytest.raises(runtime.ConfigError,
                     match=r"config.sweep point mu=-1.0: config.mu must be ≥ 0, got -1.0"):
    _run(tmp_path / "bad", make=make(), mu=1.0, sweep="mu=0.0,-1.0")
  assert not (tmp_path / "bad").exists()   # refused before anything was written


def test_an_integer_field_refuses_a_fractional_sweep_value():
  with pytest.raises(runtime.ConfigError, match=r"config.sweep: arm=1.5 is not an integer"):
    runtime.build_members(num_seeds=2, defaults={"arm": 0}, sweep="arm=1,1.5")


@pytest.mark.parametrize("bad, why", [("/proc/nope/run", "cannot be created or written"),
                                      ("/etc/hostname", "is a file, not a directory")])
def test_a_work_directory_that_cannot_be_used_is_one_error(bad, why):
  with pytest.raises(runtime.ConfigError, match=why):
    workdir_lib.prepare(bad)


def _default_workdir(*args):
  return cli.default_workdir(cli.parse_command_line(["launch.py", *args]))


def test_default_work_directory_differs_by_override():
  base = _default_workdir("--config=configs/ppo.py:smoke")
  assert base == "runs/ppo/smoke"
  lr = _default_workdir("--config=configs/ppo.py:smoke", "--config.lr=0.1")
  lr2 = _default_workdir("--config=configs/ppo.py:smoke", "--config.lr", "0.2")
  assert lr.startswith("runs/ppo/smoke-") and len(lr) == len(base) + 9 and lr != lr2
  # Fields that do not change results, and num_chunks (a longer run), keep the directory.
  same = _default_workdir("--config=configs/ppo.py:smoke", "--config.checkpoint_every=3",
                          "--config.num_chunks=4")
  assert same == base
  assert _default_workdir() == "runs/gridworld_td/default"


def test_the_command_line_is_read_once_into_a_locked_config():
  line = cli.parse_command_line(["launch.py", "--config=configs/ppo.py:smoke", "--progress=false",
                                 "--config.lr", "0.1", "--config.hidden_sizes=(8, 8)",
                                 "--workdir=/tmp/x"])
  assert line.config.lr == 0.1 and tuple(line.config.hidden_sizes) == (8, 8)
  assert line.overrides == [("lr", "0.1"), ("hidden_sizes", "(8, 8)")]
  assert line.argv == ["launch.py", "--config=configs/ppo.py:smoke", "--progress=false",
                       "--workdir=/tmp/x"]
  with pytest.raises(AttributeError):
    line.config.new_field = 1   # locked: make() cannot add fields by mistake


def test_a_save_killed_halfway_is_ignored_and_the_run_saves_again(tmp_path):
  """A kill during an async save leaves orbax's temporary folder and no finished step."""
  full = _run(tmp_path / "full", make=toy.make(num_chunks=4), checkpoint_every=1,
              keep_checkpoints=4)
  b = tmp_path / "b"
  _run(b, make=toy.make(num_chunks=4), checkpoint_every=1, keep_checkpoints=4)
  for step in ("3", "4"):
    shutil.rmtree(b / "checkpoints" / step)
  half = b / "checkpoints" / "3.orbax-checkpoint-tmp-1700000000"
  (half / "default").mkdir(parents=True)
  (half / "default" / "partial").write_bytes(b"\0" * 100)
  messages = []
  resumed = _run(b, make=toy.make(num_chunks=4), checkpoint_every=1, keep_checkpoints=4,
                 messages=messages)
  assert any("resumed from checkpoint at chunk 2/4" in m for m in messages)
  np.testing.assert_array_equal(_estimates(full), _estimates(resumed))
  steps = sorted(int(p.name) for p in (b / "checkpoints").iterdir() if p.name.isdigit())
  assert steps == [1, 2, 3, 4]


def test_a_shorter_run_is_refused_and_leaves_the_record_alone(tmp_path):
  _run(tmp_path, make=toy.make(num_chunks=4), num_chunks=4)
  with pytest.raises(runtime.ConfigError, match="holds a checkpoint at chunk 4 but the config "
                                                "asks for 2 chunks"):
    _run(tmp_path, make=toy.make(num_chunks=2), num_chunks=2)
  assert workdir_lib.read_record(tmp_path).config["num_chunks"] == 4
  assert json.loads((tmp_path / "config.json").read_text())["num_chunks"] == 4


def test_a_fresh_start_after_an_attempt_without_checkpoints_keeps_one_set_of_events(tmp_path):
  """An attempt killed before its first checkpoint leaves a record, metrics and TensorBoard
  events; the next launch starts afresh and its files describe only the new attempt."""
  _run(tmp_path, tensorboard=True)
  for step in workdir_lib.checkpoint_steps(tmp_path):   # as if killed before the first save
    shutil.rmtree(tmp_path / workdir_lib.CHECKPOINTS / str(step))
  assert workdir_lib.read_record(tmp_path) is not None and not workdir_lib.has_checkpoints(tmp_path)
  messages = []
  _run(tmp_path, tensorboard=True, messages=messages)
  assert not any("resumed" in m for m in messages)
  assert len(list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))) == 1
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(line)["chunk"] for line in lines] == [0, 1, 2, 3]
