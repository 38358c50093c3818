"""Runs an experiment: `python launch.py --config=configs/<name>.py[:variant] [--config.f=v]`.

Thin on purpose: command line -> config (read once, `cli.parse_command_line`) ->
experiments.<config.experiment>.make(config) -> runtime.run.
"""

import functools
import os
import sys

from absl import app, flags, logging

from research import runtime
from research.runtime import cli

# Read by cli.parse_command_line before absl runs (with every --config.<field>=<value>); defined
# here so that absl accepts it and --help lists it.
flags.DEFINE_string("config", cli.DEFAULT_CONFIG,
                    "Experiment config file, optionally with ':variant'; set its fields with "
                    "--config.<field>=<value>.")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Work directory (default runs/<config>/<variant>[-<digest of overrides>]).")
_RESTART = flags.DEFINE_bool(
    "restart", False, "Delete the run already in the work directory and start this one.")
_MULTIHOST = flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize().")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in a manual cluster.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index in that cluster.")
_CACHE_DIR = flags.DEFINE_string(
    "cache_dir", os.path.expanduser("~/.cache/research-jax/xla"),
    "JAX persistent compilation cache ('' to disable).")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar.")


def main(argv, command_line: cli.CommandLine):
  del argv
  import jax  # after absl parsed --jax_* flags

  from experiments import load_experiment

  logging.set_verbosity(logging.WARNING)
  runtime.maybe_initialize_distributed(_MULTIHOST.value, coordinator_address=_COORDINATOR.value,
                                       num_processes=_NUM_PROCESSES.value,
                                       process_id=_PROCESS_ID.value)
  runtime.setup_compilation_cache(_CACHE_DIR.value)
  config = command_line.config
  workdir = _WORKDIR.value or cli.default_workdir(command_line)
  del jax
  try:
    experiment = load_experiment(config.experiment).make(config)
    result = runtime.run(experiment, config, workdir, progress=_PROGRESS.value,
                         restart=_RESTART.value)
  except (runtime.ConfigError, runtime.NonFiniteError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2 if isinstance(e, runtime.ConfigError) else 3)
  if result.status == "preempted":
    sys.exit(0)


if __name__ == "__main__":
  try:
    parsed = cli.parse_command_line(sys.argv)
  except runtime.ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  import jax

  jax.config.config_with_absl()
  app.run(functools.partial(main, command_line=parsed), argv=parsed.argv)
