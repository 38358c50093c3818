"""Every config's `:smoke` variant runs end to end through launch.py and writes its outputs."""

import json
import pathlib
import re

import pytest

CONFIGS = sorted(p.stem for p in (pathlib.Path(__file__).resolve().parents[2] / "configs")
                 .glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("name", CONFIGS)
def test_smoke_variant_runs_end_to_end(launch, name, tmp_path):
  result = launch(f"--config=configs/{name}.py:smoke", f"--workdir={tmp_path}")
  assert result.returncode == 0, result.stdout + result.stderr
  assert "compiled in" in result.stdout and "###" in result.stdout   # its table is printed
  for f in ["config.json", "metrics.jsonl", "results.md", "results.csv"]:
    assert (tmp_path / f).stat().st_size > 0, f
  assert json.loads((tmp_path / "config.json").read_text())["experiment"] == name
  first = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
  assert first["chunk"] == 0
  for png in re.findall(r"\]\((\S+\.png)\)", (tmp_path / "results.md").read_text()):
    assert (tmp_path / png).stat().st_size > 1000, png
  assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
