"""Shared test set-up: float64 references need x64; tests run on the CPU."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")

import pathlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def launch(tmp_path_factory):
  """Runs `python launch.py ARGS` in a subprocess with a compilation cache shared by the session.

  Returns a function `(*args, timeout=..., background=False)` giving a CompletedProcess (or a
  Popen when `background`).
  """
  cache = tmp_path_factory.mktemp("xla_cache")

  def run(*args, timeout=600, background=False, env=None):
    cmd = [sys.executable, "launch.py", "--progress=false", f"--cache_dir={cache}", *args]
    if background:
      return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)

  run.cache_dir = cache
  return run
