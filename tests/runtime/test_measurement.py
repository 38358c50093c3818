"""The measurement phase: run once after the loop, stored, reused on relaunch, redone when the
run changes; timings kept out of the results."""

import json

import numpy as np
import pytest

from research import runtime
from research.runtime import Report, Table, measurement
from tests.runtime import toy


def _measured_toy(calls, num_chunks=2):
  """The toy experiment with a measurement phase that counts its calls and a report that shows
  what it measured (as stored)."""
  base = toy.make(num_chunks=num_chunks)

  def measure(final, info):
    calls.append(info.chunks_run)
    return {"mean": np.float32(final["estimate"].mean()), "per_member": final["estimate"],
            "seconds": 0.25, "nested": {"ok": True, "shape": (2, 3)}}

  def report(final, history, info):
    inner = base.report(final, history, info)
    m = info.measurements
    speed = Table("speed", ["what", "s"], [["fake", m["seconds"]]], timed=True)
    return Report(tables=[*inner.tables, speed,
                          Table("measured", ["mean", "members"], [[m["mean"],
                                                                   len(m["per_member"])]])])

  return base._replace(measure=measure, report=report)


def test_measure_runs_once_is_stored_and_reaches_report_as_json_data(tmp_path):
  calls = []
  result = runtime.run(_measured_toy(calls), toy.config(num_chunks=2), tmp_path, progress=False,
                       echo=lambda *_: None)
  assert calls == [2]
  stored = json.loads((tmp_path / "measurements.json").read_text())
  assert stored["run"]["num_chunks"] == 2 and len(stored["run"]["program"]) == 64
  assert stored["values"]["nested"] == {"ok": True, "shape": [2, 3]}
  final = np.load(tmp_path / "final.npz")["final/estimate"]
  np.testing.assert_allclose(stored["values"]["per_member"], final, rtol=1e-7)
  assert result.info.measurements == stored["values"]
  timings = json.loads((tmp_path / "timings.json").read_text())
  assert timings["measure_seconds"] == pytest.approx(result.info.measure_seconds, abs=1e-3)
  # Timed tables (the experiment's and the runtime's own) go to timings*.csv, the rest to
  # results*.csv; the markdown shows all of them in order.
  names = [t.name for t in result.report.tables]
  assert names == ["estimates", "speed", "measured", "Timings"]
  assert sorted(p.name for p in tmp_path.glob("*.csv")) == [
      "results.csv", "results_measured.csv", "timings.csv", "timings_speed.csv"]
  assert (tmp_path / "results.csv").read_text().startswith("point,mean,lo,hi")
  timing_row = result.report.tables[-1]
  assert timing_row.timed and timing_row.rows[0][0] == 2   # chunks timed
  md = (tmp_path / "results.md").read_text()
  assert md.index("estimates") < md.index("speed") < md.index("Timings")


def test_relaunch_of_a_finished_run_reuses_measurements_and_rerenders(tmp_path):
  calls = []
  first = runtime.run(_measured_toy(calls), toy.config(num_chunks=2), tmp_path, progress=False,
                      echo=lambda *_: None)
  results_csv = (tmp_path / "results_measured.csv").read_text()
  (tmp_path / "results.md").unlink()
  messages = []
  again = runtime.run(_measured_toy(calls), toy.config(num_chunks=2), tmp_path, progress=False,
                      echo=messages.append)
  assert calls == [2]   # not measured again
  assert any("measurements of this run loaded from measurements.json" in m for m in messages)
  assert again.info.measurements == first.info.measurements
  assert (tmp_path / "results.md").exists()
  assert (tmp_path / "results_measured.csv").read_text() == results_csv
  # The re-rendered run reports the timings its chunks took when they ran.
  assert again.info.run_seconds == pytest.approx(first.info.run_seconds)
  assert again.info.chunks_run == 2


def test_extending_or_restarting_measures_again(tmp_path):
  calls = []
  runtime.run(_measured_toy(calls), toy.config(num_chunks=2), tmp_path, progress=False,
              echo=lambda *_: None)
  # Extending the run (num_chunks only) changes the final state: measured again.
  runtime.run(_measured_toy(calls, num_chunks=3), toy.config(num_chunks=3), tmp_path,
              progress=False, echo=lambda *_: None)
  assert calls == [2, 3]
  stored = json.loads((tmp_path / "measurements.json").read_text())
  assert stored["run"]["num_chunks"] == 3
  runtime.run(_measured_toy(calls, num_chunks=3), toy.config(num_chunks=3), tmp_path,
              progress=False, echo=lambda *_: None, restart=True)
  assert calls == [2, 3, 3]
  timings = json.loads((tmp_path / "timings.json").read_text())
  assert len(timings["launches"]) == 1   # --restart forgets the earlier launches


def test_results_of_two_runs_are_equal_their_timings_are_not_in_them(tmp_path):
  for name in ("a", "b"):
    runtime.run(_measured_toy([]), toy.config(num_chunks=2), tmp_path / name, progress=False,
                echo=lambda *_: None)
  for csv in ("results.csv", "results_measured.csv"):
    assert (tmp_path / "a" / csv).read_text() == (tmp_path / "b" / csv).read_text()


def test_jsonable_refuses_what_json_cannot_hold():
  assert measurement.jsonable({"a": np.arange(3), "b": (np.float64(1.5), None)}) == {
      "a": [0, 1, 2], "b": [1.5, None]}
  with pytest.raises(TypeError, match="keys must be strings"):
    measurement.jsonable({1: 2})
  with pytest.raises(TypeError, match="cannot store a set"):
    measurement.jsonable({"a": {1, 2}})
