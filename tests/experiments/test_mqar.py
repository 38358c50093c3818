"""The MQAR experiment: a short training run that beats chance, the report, config errors."""

import pytest

from configs import mqar as mqar_config
from experiments import mqar
from research import runtime


def test_short_run_beats_chance_and_reports(tmp_path):
  config = mqar_config.get_config("smoke")
  config.num_seeds = 1
  config.kinds = ("softmax",)
  config.widths = (32,)
  config.updates_per_chunk = 150
  config.batch_size = 16
  config.eval_size = 64
  config.measure_speed = True
  result = runtime.run(mqar.make(config), config, tmp_path, progress=False,
                       echo=lambda *_: None)
  accuracy, speed = result.report.tables
  assert accuracy.columns == ["model", "width", "parameters", "2 pairs", "4 pairs"]
  assert [row[:2] for row in accuracy.rows] == [["softmax", 32]]
  # Chance: values are uniform over vocab_size / 2 = 8 tokens (12.5 %).
  assert float(accuracy.rows[0][3].split(" ±")[0]) > 40.0
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
