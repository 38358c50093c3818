"""A work directory describes one run: which config made it, and whether a launch may continue it.

`checkpoints/run.json` records the config that created the run and a fingerprint of its compiled
chunk (`step`), next to the checkpoints it describes. A later launch into the same directory:
- with the same config (fields that only say how the run is kept aside, `RUNTIME_FIELDS`)
  resumes from the latest checkpoint;
- with only `num_chunks` changed extends (or shortens) the run, if each chunk still computes the
  same thing (same fingerprint); in experiments whose chunks depend on the run's length (e.g. a
  fixed `total_timesteps` split into `num_chunks`) it is refused;
- with any other field changed is refused with one line naming the fields, unless the launch
  asks to start over (`restart=True`, `--restart`), which deletes the old run's files first.
So `config.json`, `metrics.jsonl`, `results.*` and the checkpoints always belong to one run.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
from typing import Any, NamedTuple

from research.runtime.errors import ConfigError

RECORD = "run.json"
CHECKPOINTS = "checkpoints"
LENGTH_FIELD = "num_chunks"
# Fields that change how a run is kept, not what it computes: a relaunch may change them.
RUNTIME_FIELDS = frozenset({"checkpoint_every", "keep_checkpoints", "tensorboard", "nan_guard"})
# What a run writes at the top of its work directory (besides checkpoints/ and tensorboard/);
# `clear` removes only these, never other files a user keeps there.
_RUN_FILES = ("config.json", "metrics.jsonl", "results.md", "results*.csv", "final.npz", "*.png",
              "timings.json", "timings*.csv", "measurements.json")


class Record(NamedTuple):
  """What `checkpoints/run.json` holds."""

  config: dict[str, Any]      # the config, flattened to {"a.b": value}
  program: str                # sha256 of the lowered `jit(vmap(step))`


def prepare(workdir) -> pathlib.Path:
  """Creates the work directory (and parents), or raises ConfigError saying why it cannot."""
  path = pathlib.Path(workdir)
  if path.exists() and not path.is_dir():
    raise ConfigError(f"work directory '{path}' is a file, not a directory; choose another "
                      "--workdir")
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe = path / ".write-test"
    probe.touch()
    probe.unlink()
  except OSError as e:
    raise ConfigError(f"work directory '{path}' cannot be created or written "
                      f"({e.strerror or type(e).__name__}); choose another --workdir") from None
  return path


def flat_config(config) -> dict[str, Any]:
  """The config as JSON values, flattened to dotted field names (tuples become lists)."""
  tree = json.loads(config.to_json_best_effort(sort_keys=True))
  flat: dict[str, Any] = {}

  def visit(node, prefix):
    if isinstance(node, dict) and node:
      for key, value in node.items():
        visit(value, f"{prefix}{key}.")
    else:
      flat[prefix[:-1]] = node
  visit(tree, "")
  return flat


def differences(old: dict[str, Any], new: dict[str, Any], *, ignore=RUNTIME_FIELDS) -> list[str]:
  """Fields whose values differ, as 'field: old → new' ('(none)' for a missing field)."""
  out = []
  for field in sorted(set(old) | set(new)):
    if field in ignore:
      continue
    a, b = old.get(field, "(none)"), new.get(field, "(none)")
    if a != b:
      out.append(f"{field}: {_show(a)} → {_show(b)}")
  return out


def _show(value) -> str:
  text = json.dumps(value) if not isinstance(value, str) else repr(value)
  return text if len(text) <= 40 else text[:37] + "..."


def fingerprint(lowered_text: str) -> str:
  return hashlib.sha256(lowered_text.encode()).hexdigest()


def read_record(workdir: pathlib.Path) -> Record | None:
  path = pathlib.Path(workdir) / CHECKPOINTS / RECORD
  if not path.exists():
    return None
  data = json.loads(path.read_text())
  return Record(data["config"], data["program"])


def write_record(workdir: pathlib.Path, record: Record) -> None:
  path = pathlib.Path(workdir) / CHECKPOINTS / RECORD
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(".tmp")
  tmp.write_text(json.dumps(record._asdict(), indent=1, sort_keys=True) + "\n")
  tmp.replace(path)   # atomic: a killed launch never leaves half a record


def checkpoint_steps(workdir: pathlib.Path) -> list[int]:
  """The chunks at which `workdir` holds (finished or not yet verified) checkpoints, sorted."""
  directory = pathlib.Path(workdir) / CHECKPOINTS
  if not directory.is_dir():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit())


def has_checkpoints(workdir: pathlib.Path) -> bool:
  return bool(checkpoint_steps(workdir))


def clear(workdir: pathlib.Path) -> list[str]:
  """Deletes the files of the run in `workdir` (and only those); returns what it removed."""
  workdir = pathlib.Path(workdir)
  removed = []
  for name in (CHECKPOINTS, "tensorboard"):
    if (workdir / name).is_dir():
      shutil.rmtree(workdir / name)
      removed.append(name + "/")
  for pattern in _RUN_FILES:
    for path in sorted(workdir.glob(pattern)):
      if path.is_file():
        path.unlink()
        removed.append(path.name)
  return removed


def check_continuation(workdir: pathlib.Path, record: Record | None, config: dict[str, Any],
                       *, checkpoints: bool) -> str:
  """What a launch with `config` may do in `workdir`: 'fresh', 'resume' or 'extend'.

  'extend' means only `num_chunks` changed: the caller must still compare the program
  fingerprints (`check_extension`). Raises ConfigError when the directory belongs to another run.
  """
  advice = "choose another --workdir, or add --restart to delete that run and start this one"
  if record is None:
    if checkpoints:
      raise ConfigError(f"{workdir} holds checkpoints without a record of the config that wrote "
                        f"them (an older version of this code); {advice}")
    return "fresh"
  diffs = differences(record.config, config)
  if not diffs:
    return "resume" if checkpoints else "fresh"
  if all(d.startswith(f"{LENGTH_FIELD}:") for d in diffs):
    return "extend" if checkpoints else "fresh"
  shown = "; ".join(diffs[:6]) + (f"; and {len(diffs) - 6} more" if len(diffs) > 6 else "")
  raise ConfigError(f"{workdir} holds a run of another config ({shown}); {advice}")


def check_extension(workdir: pathlib.Path, record: Record, program: str, config) -> None:
  """Raises ConfigError unless the chunk program is the one that wrote the checkpoints."""
  if record.program != program:
    old = record.config.get(LENGTH_FIELD)
    raise ConfigError(
        f"{workdir}: {LENGTH_FIELD} {old} → {config.get(LENGTH_FIELD)} changes what each chunk "
        "computes in this experiment (its chunks depend on the run's length), so the run cannot "
        "be extended; choose another --workdir, or add --restart to delete that run")
