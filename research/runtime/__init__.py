"""research.runtime: the launcher's machinery (the only part of research/ that does I/O).

Mesh and seed sharding, multi-host, orbax checkpoints, metric writers, progress, statistics
over seeds, tables and plots. `run(experiment, config, workdir)` is the one code path.
"""

from research.runtime.config import base_config, require, select_variant
from research.runtime.devices import maybe_initialize_distributed, seed_sharding
from research.runtime.errors import ConfigError, NonFiniteError
from research.runtime.experiment import Experiment, RunInfo
from research.runtime.loop import RunResult, run, setup_compilation_cache
from research.runtime.members import Members, build_members, parse_sweep
from research.runtime.report import Plot, Report, Series, Table, markdown_table
from research.runtime.stats import (
    Summary,
    bootstrap_ci,
    ci_band,
    format_ci,
    format_pm,
    half_width,
    iqm,
    mean_pm,
    percent_pm,
    summarize,
    t_interval,
)

__all__ = [
    "ConfigError", "Experiment", "Members", "NonFiniteError", "Plot", "Report", "RunInfo",
    "RunResult", "Series", "Summary", "Table", "base_config", "bootstrap_ci", "build_members",
    "ci_band", "format_ci", "format_pm", "half_width", "iqm", "markdown_table",
    "maybe_initialize_distributed", "mean_pm", "parse_sweep", "percent_pm", "require", "run",
    "seed_sharding", "select_variant", "setup_compilation_cache", "summarize", "t_interval",
]
