"""The launch command line's config, read once: `--config=path[:variant]` and `--config.f=v`.

`parse_command_line(argv)` loads the config file, applies the overrides with their fields'
types and locks it; an unknown field, a bad value or a config error raises `ConfigError` naming
the flag and what is allowed (one line, where `ml_collections.config_flags` gives a traceback).
It returns the argv without the overrides for absl to parse the other flags, and the overrides
themselves, from which `default_workdir` names the run's directory. It reads no flags itself.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import pathlib
from typing import NamedTuple

import ml_collections

from research.runtime import workdir
from research.runtime.errors import ConfigError

DEFAULT_CONFIG = "configs/gridworld_td.py"


def split_config_arg(value: str) -> tuple[str, str]:
  """'configs/x.py:smoke' -> ('configs/x.py', 'smoke')."""
  path, _, variant = value.partition(":")
  return path, variant


def load_config(value: str) -> ml_collections.ConfigDict:
  """Loads `path[:variant]` the way config_flags does, with one-line errors."""
  path, variant = split_config_arg(value)
  file = pathlib.Path(path)
  if not file.is_file():
    known = sorted(p.name for p in pathlib.Path("configs").glob("*.py") if p.name[0] != "_")
    raise ConfigError(f"--config: no such file '{path}'"
                      + (f"; configs: {', '.join(known)}" if known else ""))
  spec = importlib.util.spec_from_file_location(f"_config_{file.stem}", file)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"--config: '{path}' has no get_config(arg)")
  return module.get_config(variant) if variant else module.get_config()


def _flag_value(argv: list[str], name: str):
  """The value of --name (last wins), the `--name.field=value` overrides in order, and the other
  arguments (`--name` itself included)."""
  value, overrides, rest = None, [], []
  i = 0
  while i < len(argv):
    arg = argv[i]
    if arg.startswith(f"--{name}=") or arg == f"--{name}":
      value = arg.split("=", 1)[1] if "=" in arg else (argv[i + 1] if i + 1 < len(argv) else "")
      rest += argv[i:i + (1 if "=" in arg else 2)]
      i += 1 if "=" in arg else 2
      continue
    if arg.startswith(f"--{name}."):
      field, eq, text = arg[len(name) + 3:].partition("=")
      if not eq:
        text = argv[i + 1] if i + 1 < len(argv) else ""
        i += 1
      overrides.append((field, text))
    else:
      rest.append(arg)
    i += 1
  return value, overrides, rest


def parse_value(field: str, text: str, default):
  """Parses an override string as the type of the field's current value."""
  if isinstance(default, bool):
    if text.lower() in ("true", "1", "yes"):
      return True
    if text.lower() in ("false", "0", "no"):
      return False
    raise ConfigError(f"--config.{field}: '{text}' is not a bool (true or false)")
  if isinstance(default, int):
    try:
      return int(text)
    except ValueError:
      raise ConfigError(f"--config.{field}: '{text}' is not an integer") from None
  if isinstance(default, float):
    try:
      return float(text)
    except ValueError:
      raise ConfigError(f"--config.{field}: '{text}' is not a number") from None
  if isinstance(default, (tuple, list)):
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      raise ConfigError(f"--config.{field}: '{text}' is not a tuple literal like (1, 2)") from None
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)
  return text


def _get(config: ml_collections.ConfigDict, field: str):
  node = config
  parts = field.split(".")
  for depth, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      where = ".".join(parts[:depth]) or "config"
      is_group = isinstance(node, ml_collections.ConfigDict)
      allowed = ", ".join(sorted(node.keys())) if is_group else ""
      raise ConfigError(f"--config.{field}: unknown field '{part}' in {where}"
                        + (f"; fields: {allowed}" if allowed else ""))
    node = node[part]
  return node


class CommandLine(NamedTuple):
  """A launch command line, read once."""

  config: ml_collections.ConfigDict     # loaded, overridden and locked
  config_argument: str                  # 'path[:variant]'
  overrides: list[tuple[str, str]]      # (field, value as typed), in order
  argv: list[str]                       # argv without the overrides, for absl


def default_workdir(command_line: CommandLine) -> str:
  """`runs/<config name>/<variant or 'default'>`, and `-<8 hex digits>` when fields are overridden.

  The suffix is a digest of the overridden fields and their values (as typed; the last of a
  repeated field counts), so a changed config never lands in another config's run by default
  (CleanRL names its runs alike). Fields that do not change what a run computes
  (`workdir.RUNTIME_FIELDS`) and `num_chunks` (a longer run may extend the same directory) do not
  enter the digest.
  """
  path, variant = split_config_arg(command_line.config_argument)
  name = pathlib.Path(path).stem
  leaf = variant.replace(",", "+") or "default"
  ignored = workdir.RUNTIME_FIELDS | {workdir.LENGTH_FIELD}
  changed = {field: text for field, text in command_line.overrides if field not in ignored}
  if changed:
    digest = hashlib.sha256(json.dumps(sorted(changed.items())).encode()).hexdigest()[:8]
    leaf = f"{leaf}-{digest}"
  return str(pathlib.Path("runs") / name / leaf)


def parse_command_line(argv: list[str]) -> CommandLine:
  """Loads `--config` (default `DEFAULT_CONFIG`), applies every `--config.field=value`, locks it.

  Raises:
    ConfigError: with one line naming the flag or field and what is allowed.
  """
  value, overrides, rest = _flag_value(argv[1:], "config")
  argument = value or DEFAULT_CONFIG
  config = ml_collections.ConfigDict(load_config(argument))  # a copy we may modify
  for field, text in overrides:
    default = _get(config, field)
    if isinstance(default, ml_collections.ConfigDict):
      raise ConfigError(f"--config.{field}: is a group of fields; set one of: "
                        + ", ".join(sorted(default.keys())))
    if default is None or isinstance(default, ml_collections.FieldReference):
      raise ConfigError(f"--config.{field}: has no default value to take its type from; set it "
                        "in the config file")
    parsed = parse_value(field, text, default)
    parent, _, leaf = field.rpartition(".")
    (_get(config, parent) if parent else config)[leaf] = parsed
  config.lock()
  return CommandLine(config, argument, overrides, [argv[0], *rest])
