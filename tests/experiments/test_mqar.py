"""The MQAR experiment: a short training run that beats chance, the report, config errors."""

import pytest

from configs import mqar as mqar_config
from experiments import mqar
from research import runtime


def test_short_run_recalls_and_reports(tmp_path):
  """300 updates: softmax recalls every pair, linear attention (with the short conv) clearly
  beats the best guess without recall (one of the n values present: 1/n = 50 % and 25 %)."""
  config = mqar_config.get_config("smoke")
  config.num_seeds = 1
  config.kinds = ("softmax", "linear")
  config.widths = (32,)
  config.updates_per_chunk = 150
  config.batch_size = 16
  config.eval_size = 64
  config.measure_speed = True
  result = runtime.run(mqar.make(config), config, tmp_path, progress=False,
                       echo=lambda *_: None)
  accuracy, paired, speed, timings = result.report.tables
  assert speed.timed and timings.timed and not accuracy.timed
  assert sorted(p.name for p in tmp_path.glob("*.csv")) == [
      "results.csv",
      "results_mqar_decline_with_pairs_and_recovery_with_width_paired_over_seeds.csv",
      "timings.csv", "timings_speed.csv"]
  assert accuracy.columns == ["model", "width", "parameters", "2 pairs", "4 pairs"]
  assert [row[:2] for row in accuracy.rows] == [["softmax", 32], ["linear (elu+1)", 32]]
  softmax, linear = ([float(cell) for cell in row[3:]] for row in accuracy.rows)  # 1 seed: no CI
  assert min(softmax) >= 90.0
  assert linear[0] > 50.0 + 10 and linear[1] > 25.0 + 10
  # The paired table: fewest − most pairs per model (one seed: the difference, no interval).
  assert paired.columns == ["model", "2 − 4 pairs, width 32"]
  for row, acc in zip(paired.rows, (softmax, linear), strict=True):
    assert float(row[1]) == pytest.approx(acc[0] - acc[1], abs=0.11)
  assert speed.rows[0][0] == "softmax" and float(speed.rows[0][1].replace(",", "")) > 0
  assert {p.name for p in result.report.plots} == {"accuracy_vs_pairs_w32", "train_accuracy"}


def test_bad_config_is_a_config_error():
  config = mqar_config.get_config("smoke")
  config.kinds = ("softmax", "cosine")
  with pytest.raises(runtime.ConfigError, match="kinds"):
    mqar.make(config)
  config = mqar_config.get_config("smoke")
  config.pairs = (2, 9)
  with pytest.raises(runtime.ConfigError, match="too short|distinct"):
    mqar.make(config)


@pytest.mark.parametrize("field,value,message", [
  ("conv_size", -1, "conv_size"), ("num_layers", 0, "num_layers"), ("mlp", "relu", "mlp"),
  ("mlp_ratio", 0, "mlp_ratio"), ("eval_size", 0, "eval_size")])
def test_bad_model_fields_are_config_errors(field, value, message):
  config = mqar_config.get_config("smoke")
  config[field] = value
  with pytest.raises(runtime.ConfigError, match=message):
    mqar.make(config)
