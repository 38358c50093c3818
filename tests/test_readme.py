"""Every `python launch.py ...` and `python -m benchmarks...` command in the README and the configs'
docstrings names files, variants and fields that exist (the command line is parsed, not run)."""

import pathlib
import re
import shlex

import pytest

from research.runtime import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "README.md", *sorted((ROOT / "configs").glob("*.py"))]


def _commands():
  found = []
  for path in SOURCES:
    text = path.read_text().replace("\\\\\n", " ").replace("\\\n", " ")
    for match in re.finditer(r"python (launch\.py|-m [\w.]+)([^`\n|#]*)", text):
      command = match.group(0).strip()
      for quote in "\"'":   # a command that ends a quoted one, e.g. ssh --command "... python ..."
        if command.count(quote) % 2:
          command = command.rstrip(quote)
      if "..." not in command and "<" not in command and not command.startswith("python -m pytest"):
        found.append((path.name, command))   # placeholders like --config=... are prose
  return found


COMMANDS = _commands()


def test_the_readme_has_commands():
  assert sum(source == "README.md" for source, _ in COMMANDS) >= 15


@pytest.mark.parametrize("source, command", COMMANDS, ids=[c for _, c in COMMANDS])
def test_command_names_a_config_variant_and_fields_that_exist(source, command, monkeypatch):
  monkeypatch.chdir(ROOT)
  argv = shlex.split(command)[1:]
  if argv[0] == "-m":
    module = argv[1]
    assert module.startswith("benchmarks.") or module.startswith("experiments."), command
    assert (ROOT / (module.replace(".", "/") + ".py")).exists(), f"{source}: {command}"
    return
  line = cli.parse_command_line(argv)   # raises ConfigError for a bad file, variant or field
  assert line.config.experiment, f"{source}: {command}"


def test_adding_an_experiment_shows_the_bandit_files_as_they_are():
  """The walkthrough's code is experiments/bandit.py and configs/bandit.py, verbatim."""
  text = (ROOT / "README.md").read_text()
  section = text[text.index("## Adding an experiment"):text.index("## Layout")]
  blocks = re.findall(r"```python\n(.*?)```", section, re.S)
  assert blocks == [(ROOT / "experiments/bandit.py").read_text(),
                    (ROOT / "configs/bandit.py").read_text()]


def test_pytest_commands_name_test_paths_that_exist():
  text = (ROOT / "README.md").read_text()
  commands = re.findall(r"python -m pytest([^`\n]*)", text)
  paths = [arg for c in commands for arg in c.split() if arg.startswith("tests")]
  assert paths, "the README names a fast subset of the tests"
  for path in paths:
    assert (ROOT / path.split("::")[0]).exists(), path


def test_the_library_example_runs():
  """The 'Using the library' example, executed as written."""
  text = (ROOT / "README.md").read_text()
  section = text[text.index("## Using the library"):text.index("## Adding an experiment")]
  (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
  namespace = {}
  exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
  assert namespace["out"].shape == (2, 128, 4, 16)
  assert namespace["v_star"].shape == (25,)


def test_python_c_commands_run():
  """Every `python -c "..."` line in the README runs from the clone's root."""
  import subprocess
  import sys

  text = (ROOT / "README.md").read_text()
  snippets = re.findall(r'^python -c "([^"]+)"$', text, re.M)
  assert snippets
  for code in snippets:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, (code, result.stderr[-500:])
