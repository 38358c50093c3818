"""The flat member axis: hyperparameter grid × seeds, padded to a multiple of the device count.

Member `m` is sweep point `m // num_seeds` and seed index `m % num_seeds`. Its key is
`fold_in(key(config.seed), seed_index)`: the same seed index gets the same key at every sweep point
(common random numbers, so sweep points are compared on paired runs), and a member's key never
depends on how many devices or hosts ran it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from research.runtime.errors import ConfigError


class Members(NamedTuple):
  """Who each member of the flat axis is. Arrays have one entry per real (unpadded) member."""

  num_seeds: int
  points: list[dict[str, Any]]      # one dict per sweep point: {field: value}; [{}] without sweep
  point_index: np.ndarray           # [M] int
  seed_index: np.ndarray            # [M] int
  hparams: dict[str, np.ndarray]    # [M] per sweepable field (sweep value or its default)

  @property
  def num_members(self) -> int:
    return len(self.seed_index)

  def point_label(self, p: int) -> str:
    """'alpha=0.1, epsilon=0.2' for sweep point p ('all' without a sweep)."""
    return ", ".join(f"{k}={v}" for k, v in self.points[p].items()) or "all"

  def of_point(self, values, p: int) -> np.ndarray:
    """The entries of `values` (one per member) of sweep point `p`, ordered by seed index."""
    sel = np.flatnonzero(self.point_index == p)
    return np.asarray(values)[sel[np.argsort(self.seed_index[sel])]]

  def describe(self, m: int) -> str:
    """'member 5 (seed 1, alpha=0.1)'."""
    label = self.point_label(int(self.point_index[m]))
    extra = "" if label == "all" else f", {label}"
    return f"member {m} (seed {int(self.seed_index[m])}{extra})"


def parse_sweep(sweep) -> dict[str, list]:
  """Normalises `config.sweep` into {field: [values]}.

  Accepts a mapping of field -> sequence of values (in a config file), or a string
  `"alpha=0.05,0.1;epsilon=0.1,0.2"` (handy on the command line); "" means no sweep. Values that
  are not numbers stay strings: names of an integer field's choices (`build_members`).
  """
  if sweep is None or sweep == "":
    return {}
  if isinstance(sweep, str):
    out = {}
    for part in filter(None, (p.strip() for p in sweep.split(";"))):
      if "=" not in part:
        raise ConfigError(f"config.sweep: '{part}' is not 'field=v1,v2,...'")
      name, values = part.split("=", 1)
      out[name.strip()] = [_parse_number(v.strip(), name) for v in values.split(",") if v.strip()]
    sweep = out
  if not isinstance(sweep, Mapping):
    sweep = dict(sweep)
  result = {}
  for name, values in sweep.items():
    values = list(values) if isinstance(values, Sequence) and not isinstance(values, str) else None
    if not values:
      raise ConfigError(f"config.sweep.{name}: needs a non-empty list of values")
    result[str(name)] = values
  return result


def _parse_number(text: str, name: str):
  del name
  for parse in (int, float):
    try:
      return parse(text)
    except ValueError:
      pass
  return text


def build_members(*, num_seeds: int, defaults: Mapping[str, Any], sweep,
                  choices: Mapping[str, Sequence[str]] | None = None) -> Members:
  """Builds the grid × seeds member list.

  Args:
    num_seeds: seeds per sweep point (≥ 1).
    defaults: the experiment's sweepable hyperparameters and their config values.
    sweep: `config.sweep` (see `parse_sweep`); every field must be one of `defaults`.
    choices: names of integer fields' values (`Experiment.hparam_choices`): a sweep may give
      `arm=grpo,ppo` for the indices of those names.
  """
  if not isinstance(num_seeds, int) or num_seeds < 1:
    raise ConfigError(f"config.num_seeds must be an integer ≥ 1, got {num_seeds!r}")
  grid = parse_sweep(sweep)
  choices = choices or {}
  for name in grid:
    if name not in defaults:
      allowed = ", ".join(sorted(defaults)) or "none"
      raise ConfigError(f"config.sweep: '{name}' cannot be swept; sweepable fields: {allowed}")
    grid[name] = [_choice_index(name, v, choices.get(name)) if isinstance(v, str) else v
                  for v in grid[name]]
  names = list(grid)
  points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]
  num_points = len(points)
  point_index = np.repeat(np.arange(num_points), num_seeds)
  seed_index = np.tile(np.arange(num_seeds), num_points)
  hparams = {}
  for name, values in grid.items():
    default = defaults[name]
    if isinstance(default, (bool, int, np.integer)):
      bad = [v for v in values if float(v) != int(float(v))]
      if bad:
        raise ConfigError(f"config.sweep: {name}={bad[0]} is not an integer (config.{name} is "
                          "an integer field)")
  for name, default in defaults.items():
    dtype = np.int32 if isinstance(default, (bool, int, np.integer)) else np.float32
    values = [p.get(name, default) for p in points]
    hparams[name] = np.asarray(values, dtype=dtype)[point_index]
  return Members(num_seeds, points, point_index, seed_index, hparams)


def _choice_index(name: str, value: str, names) -> int:
  """The index of a named value of field `name` (ConfigError if it has no such name)."""
  if names is None:
    raise ConfigError(f"config.sweep: value '{value}' of '{name}' is not a number")
  if value not in names:
    raise ConfigError(f"config.sweep: {name}={value} is not one of {', '.join(names)}")
  return list(names).index(value)


def padded_size(num_members: int, num_devices: int) -> int:
  """Smallest multiple of `num_devices` that holds `num_members`."""
  return -(-num_members // num_devices) * num_devices


def pad(array: np.ndarray, size: int) -> np.ndarray:
  """Pads the leading axis to `size` by repeating the first entry (padding is dropped later)."""
  extra = size - len(array)
  if extra == 0:
    return array
  return np.concatenate([array, np.repeat(array[:1], extra, axis=0)])
