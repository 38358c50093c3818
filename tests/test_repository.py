"""The repository stands alone: a locked install, links that resolve, nothing read from outside."""

import pathlib
import re
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEXT = ("*.py", "*.md", "*.toml", "*.txt", "*.json", "run")
# A folder beside a clone that users do not have.
OUTSIDE = r"\.\./shared|shared/(data|seeds)|['\"]shared['\"]"


def _pins(name: str) -> dict[str, str]:
  pins = {}
  for line in (ROOT / name).read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
      continue
    requirement = line.split(";", 1)[0].strip()
    assert "==" in requirement, f"{name}: '{line}' is not pinned with =="
    package, version = requirement.split("==")
    pins[re.sub(r"[-_.]+", "-", package.split("[")[0]).lower()] = version
  return pins


def test_the_lock_pins_every_dependency_and_the_dev_lock_agrees():
  runtime, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
  project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
  direct = {re.split(r"[<>=!~\[ ;]", d)[0].lower() for d in project["dependencies"]}
  assert direct <= set(runtime), direct - set(runtime)
  assert {"six", "python-dateutil", "gymnasium", "jaxlib"} <= set(runtime)   # transitive ones
  assert {k: dev[k] for k in runtime} == runtime
  extras = {re.split(r"[<>=!~\[ ;]", d)[0].lower() for d in project["optional-dependencies"]["dev"]}
  assert extras <= set(dev)


def test_nothing_reads_or_links_outside_the_repository():
  offenders = []
  for pattern in TEXT:
    for path in ROOT.rglob(pattern):
      parts = path.relative_to(ROOT).parts
      if parts[0] in {".git", ".venv", "runs", "build"} or "site-packages" in parts:
        continue
      text = path.read_text(errors="ignore")
      if path.name != "test_repository.py" and re.search(OUTSIDE, text):
        offenders.append(str(path.relative_to(ROOT)))
  assert not offenders


def test_markdown_links_resolve_inside_the_repository():
  for doc in [ROOT / "README.md", *ROOT.glob("docs/*.md"), ROOT / "data" / "README.md"]:
    for target in re.findall(r"\]\(([^)#\s]+)\)", doc.read_text()):
      if re.match(r"[a-z]+://", target) or target.endswith(".png"):
        continue
      resolved = (doc.parent / target).resolve()
      assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{doc.name}: {target}"


def test_ruff_is_clean():
  result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT)
  assert result.returncode == 0, result.stdout[-3000:]



def test_experiments_holds_only_experiments():
  """Every module in experiments/ is a registered experiment with `make`; library code, report
  helpers and benchmarks live in research/ and benchmarks/."""
  import importlib

  from experiments import REGISTRY

  modules = {p.stem for p in (ROOT / "experiments").glob("*.py")} - {"__init__"}
  assert modules == {name.split(".")[-1] for name in REGISTRY.values()}
  assert not [p for p in (ROOT / "experiments").iterdir() if p.is_dir() and p.name != "__pycache__"]
  for name in REGISTRY.values():
    assert callable(importlib.import_module(name).make)
