"""The voc_map experiment: Padilla's worked example reproduced, and the speed table's structure."""

import json

import numpy as np
import pytest

from configs import voc_map as voc_config
from experiments import voc_map
from research import runtime

# The README's table: the ranking (ties by file order) and the true positives at IoU >= 0.3.
PADILLA_RANKING = "R Y J A U C M F D B H P E X N T K Q V I L S G O".split()
PADILLA_TP = set("R J B P E X G".split())


def test_fixture_is_found_and_parsed():
  config = voc_config.get_config()
  data, problem = voc_map.load_padilla(config.fixture)
  assert len(problem["det_scores"]) == 24 and len(problem["gt_labels"]) == 15
  assert len(set(problem["gt_image_ids"].tolist())) == 7
  exact, fraction, printed = voc_map.published_ap(data, "ap_all_points")
  assert fraction == "356/1449" and exact == pytest.approx(356 / 1449)
  assert printed == pytest.approx(0.2456)
  assert voc_map.published_ap(data, "ap_11_point")[:2] == (pytest.approx(62 / 231), "62/231")


def test_missing_or_malformed_fixture_is_a_config_error(tmp_path):
  config = voc_config.get_config("smoke")
  config.fixture = str(tmp_path / "nope.json")
  with pytest.raises(runtime.ConfigError, match="no such file"):
    voc_map.make(config)
  (tmp_path / "bad.json").write_text(json.dumps({"detections": []}))
  config.fixture = str(tmp_path / "bad.json")
  with pytest.raises(runtime.ConfigError, match="expected format"):
    voc_map.make(config)


def test_run_reproduces_padilla_and_compares_speed(tmp_path):
  config = voc_config.get_config("smoke")
  config.synthetic_images = 20
  result = runtime.run(voc_map.make(config), config, tmp_path, progress=False,
                       echo=lambda *_: None)
  tables = {t.name: t for t in result.report.tables}
  assert result.report.tables[0].name == "Padilla's worked example: AP"
  ap = tables["Padilla's worked example: AP"]
  for row, exact in zip(ap.rows, (356 / 1449, 62 / 231), strict=True):
    assert float(row[1]) == pytest.approx(exact, abs=1e-6)   # voc_map
    assert float(row[2]) == pytest.approx(exact, abs=1e-6)   # the NumPy loop
  detections = tables["Padilla's worked example: every detection, ranked"]
  assert [row[1] for row in detections.rows] == PADILLA_RANKING
  assert {row[1] for row in detections.rows if row[5] == "TP"} == PADILLA_TP
  last = detections.rows[-1]
  assert (last[6], last[7], last[8], last[9]) == (7, 17, f"{7 / 24:.4f}", f"{7 / 15:.4f}")
  assert "identical to the NumPy loop: yes" in detections.caption

  speed = tables["Speed on a synthetic set"]
  assert [row[0] for row in speed.rows] == ["voc_map (JAX, jit)", "NumPy per-detection loop"]
  assert speed.rows[0][3:5] == speed.rows[1][3:5]   # the same mAPs, to the printed 6 digits
  assert "identical: yes" in speed.caption and "exclude compilation" in speed.caption
  assert float(speed.rows[0][1]) > 0 and float(speed.rows[1][1]) > 0
  np.testing.assert_allclose(result.report.plots[0].series[0].y[-1], 7 / 24, rtol=1e-6)
