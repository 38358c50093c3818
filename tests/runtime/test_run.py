"""runtime.run end to end on the toy experiment: results, outputs, resume, guards, devices."""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from research import runtime
from tests.runtime import toy

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _estimates(result):
  return np.asarray([row[1] for row in result.report.tables[0].rows])


def test_results_match_the_reference_and_outputs_are_written(tmp_path):
  result = runtime.run(toy.make(), toy.config(sweep="mu=0.0,2.0"), tmp_path, progress=False)
  assert result.status == "completed" and result.info.members.num_members == 6
  for p, mu in enumerate([0.0, 2.0]):
    expected = np.mean([toy.reference_estimate(0, s, mu, 4) for s in range(3)])
    assert _estimates(result)[p] == pytest.approx(expected, rel=1e-5)
  for name in ["config.json", "metrics.jsonl", "results.md", "results.csv"]:
    assert (tmp_path / name).exists(), name
  lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [x["chunk"] for x in lines] == [0, 1, 2, 3]
  assert len(lines[0]["estimate"]) == 6 and len(lines[0]["samples"][0]) == 3
  assert json.loads((tmp_path / "config.json").read_text())["sweep"] == "mu=0.0,2.0"
  assert "mu=2.0" in (tmp_path / "results.md").read_text()
  final = np.load(tmp_path / "final.npz")  # per member: the values behind the table
  np.testing.assert_array_equal(final["member/seed_index"], [0, 1, 2, 0, 1, 2])
  np.testing.assert_array_equal(final["member/hparam/mu"], [0.0, 0.0, 0.0, 2.0, 2.0, 2.0])
  mu2 = final["member/point_index"] == 1
  assert final["final/estimate"][mu2].mean() == pytest.approx(_estimates(result)[1], rel=1e-6)


def test_resume_continues_bit_identically(tmp_path):
  full = runtime.run(toy.make(num_chunks=4), toy.config(), tmp_path / "a", progress=False)
  # A run that stopped after 2 chunks (its checkpoint at chunk 2), then the same run with 4.
  runtime.run(toy.make(num_chunks=2), toy.config(), tmp_path / "b", progress=False)
  shutil.rmtree(tmp_path / "b" / "checkpoints" / "1", ignore_errors=True)
  messages = []
  resumed = runtime.run(toy.make(num_chunks=4), toy.config(), tmp_path / "b", progress=False,
                        echo=messages.append)
  assert any("resumed from checkpoint at chunk 2/4" in m for m in messages)
  # The run's timings cover both launches: chunks 0-1 from the first, 2-3 from the second.
  assert resumed.info.chunks_run == 4
  timings = json.loads((tmp_path / "b" / "timings.json").read_text())
  assert [x["chunks_run"] for x in timings["launches"]] == [2, 2]
  assert all(s is not None and s >= 0 for s in timings["chunk_seconds"])
  np.testing.assert_array_equal(_estimates(full), _estimates(resumed))
  a = (tmp_path / "a" / "metrics.jsonl").read_text()
  b = (tmp_path / "b" / "metrics.jsonl").read_text()
  assert a == b


def test_corrupt_checkpoint_falls_back_to_previous(tmp_path, capsys):
  runtime.run(toy.make(num_chunks=3), toy.config(keep_checkpoints=3), tmp_path, progress=False)
  latest = tmp_path / "checkpoints" / "3"
  for f in latest.rglob("*"):
    if f.is_file() and f.stat().st_size > 0 and "METADATA" not in f.name:
      f.write_bytes(b"garbage")
  messages = []
  runtime.run(toy.make(num_chunks=3), toy.config(keep_checkpoints=3), tmp_path, progress=False,
              echo=messages.append)
  assert "checkpoint 3 is unreadable" in capsys.readouterr().out
  assert any("resumed from checkpoint at chunk 2/3" in m for m in messages)


def test_nan_guard_names_metric_member_and_chunk(tmp_path):
  with pytest.raises(runtime.NonFiniteError,
                     match=r"'estimate' for member 0 \(seed 0, mu=1.0\) at chunk 2"):
    runtime.run(toy.make(poison_chunk=2), toy.config(sweep="mu=1.0,3.0"), tmp_path,
                progress=False)
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert len(lines) == 3   # the metrics up to the bad chunk were written


def _run_toy(workdir, out, *extra, env=None):
  return subprocess.Popen([sys.executable, "-m", "tests.runtime.run_toy", str(workdir), str(out),
                           "--sweep", "mu=0.0,2.0", "--num_seeds", "5", *extra], cwd=ROOT,
                          env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _wait(proc):
  out, _ = proc.communicate(timeout=300)
  assert proc.returncode == 0, out
  return out


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_one_four_devices_and_two_hosts_agree(tmp_path):
  """10 members over 1 device, 4 devices (padded to 12) and 2 processes on localhost."""
  port = _free_port()
  four = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
  procs = [
      _run_toy(tmp_path / "one", tmp_path / "one.npz"),
      _run_toy(tmp_path / "four", tmp_path / "four.npz", env=four),
  ]
  for p in procs:
    _wait(p)
  hosts = [_run_toy(tmp_path / "mh", tmp_path / "mh.npz", "--coordinator", f"localhost:{port}",
                    "--process_id", str(i), "--num_processes", "2") for i in range(2)]
  for p in hosts:
    _wait(p)
  one, four, mh = (np.load(tmp_path / f"{n}.npz") for n in ["one", "four", "mh"])
  assert int(four["devices"]) == 4 and int(mh["processes"]) == 2
  np.testing.assert_allclose(four["rows"], one["rows"], rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(mh["rows"], one["rows"], rtol=1e-6, atol=1e-6)
  assert not (tmp_path / "mh.npz").with_suffix(".npz.1").exists()


def test_plots_keep_up_to_40_series_distinguishable(tmp_path):
  from research.runtime import outputs

  styles = [outputs.line_style(i) for i in range(40)]
  assert len(set(styles)) == 40 and styles[0] == ("C0", "-") and styles[10] == ("C0", "--")
  series = [runtime.Series(f"s{i}", np.arange(3), np.arange(3) + i) for i in range(12)]
  outputs.render_plot(runtime.Plot("many", "12 lines", "x", "y", series), tmp_path / "many.png")
  assert (tmp_path / "many.png").stat().st_size > 1000
