"""The Functions deployment package as the host gets it, and a check that it imports.

The host copies the files `.funcignore` keeps, installs `requirements.txt` alone (no
constraints, no dev tools) and imports `function_app`. A module that imports a package only the
tests install, or reads a file `.funcignore` drops, works on a developer's machine and fails in
Azure. `check` does what the host does - a fresh virtualenv from requirements.txt, the kept
files in a scratch folder - then imports `function_app`, lists its functions and imports every
module of the engine and the blueprints.

    python scripts/deploy_package.py check      # used by `make test`
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pathspec

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_VENV = ROOT / ".venv-runtime"
PACKAGES = ("entra_backup", "api", "orchestrators", "activities")
MUST_HAVE = ("function_app.py", "host.json", "requirements.txt",
             "docs/report.schema.json", "docs/report-entry.schema.json")
NEVER = ("tests/", "bench/", "graphsim/", "node_modules/", ".venv/", "scripts/")
_SKIP_DIRS = {".git", "node_modules", ".venv", ".venv-runtime", ".venv-checkov", "__pycache__",
              ".mypy_cache", ".hypothesis", ".ruff_cache", ".pytest_cache"}

IMPORT_ALL = """
import importlib, pkgutil, sys, time
started = time.perf_counter()
import function_app
seconds = time.perf_counter() - started
names = sorted(f.get_function_name() for f in function_app.app.get_functions())
modules = 0
for root in {packages!r}:
    package = importlib.import_module(root)
    for info in pkgutil.walk_packages(package.__path__, root + "."):
        if info.name.endswith(".__main__"):  # running it is not importing it
            continue
        importlib.import_module(info.name)
        modules += 1
print(f"{{seconds:.3f}} {{len(names)}} {{modules}}")
"""


def package_files(root: Path = ROOT) -> list[Path]:
    """Paths (relative to `root`) that `.funcignore` keeps in the deployment package."""
    spec = pathspec.GitIgnoreSpec.from_lines((root / ".funcignore").read_text().splitlines())
    kept: list[Path] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_dir() or _SKIP_DIRS.intersection(relative.parts):
            continue
        if not spec.match_file(relative.as_posix()):
            kept.append(relative)
    return kept


def stage(target: Path, root: Path = ROOT) -> int:
    """Copy the package into `target`; returns its size in bytes."""
    size = 0
    for relative in package_files(root):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, destination)
        size += destination.stat().st_size
    return size


def runtime_python(venv: Path = RUNTIME_VENV) -> Path:
    """A virtualenv holding requirements.txt alone, rebuilt when that file changes."""
    requirements = (ROOT / "requirements.txt").read_bytes()
    stamp = venv / ".requirements-sha256"
    digest = hashlib.sha256(requirements).hexdigest()
    python = venv / "bin" / "python"
    if not (stamp.exists() and stamp.read_text() == digest and python.exists()):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "-r", str(ROOT / "requirements.txt")],
                       check=True)
        stamp.write_text(digest)
    return python


def site_packages_bytes(venv: Path = RUNTIME_VENV) -> int:
    return sum(p.stat().st_size for p in venv.glob("lib/python*/site-packages/**/*")
               if p.is_file() and "__pycache__" not in p.parts
               and not any(part.startswith(("pip", "setuptools")) for part in p.parts))


def import_in_package(python: Path, package: Path) -> tuple[float, int, int]:
    """Import function_app from a staged package: (seconds, functions, modules)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(package)}
    done = subprocess.run([str(python), "-c", IMPORT_ALL.format(packages=PACKAGES)],
                          cwd=package, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the deployment package does not import:\n{done.stderr.strip()}")
    seconds, functions, modules = done.stdout.split()
    return float(seconds), int(functions), int(modules)


def check() -> int:
    kept = {p.as_posix() for p in package_files()}
    missing = [name for name in MUST_HAVE if name not in kept]
    leaked = sorted(name for name in kept if name.startswith(NEVER))
    if missing or leaked:
        print(f"deploy package: missing {missing}, must not ship {leaked[:5]}", file=sys.stderr)
        return 1
    python = runtime_python()
    with tempfile.TemporaryDirectory(prefix="entra-backup-package-") as scratch:
        size = stage(Path(scratch))
        seconds, functions, modules = import_in_package(python, Path(scratch))
    print(f"deploy package: {len(kept)} files, {size / 1e6:.2f} MB; runtime packages "
          f"{site_packages_bytes() / 1e6:.0f} MB; function_app imports in {seconds:.2f} s "
          f"with {functions} functions; {modules} modules import with requirements.txt alone")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["check"]:
        raise SystemExit("usage: python scripts/deploy_package.py check")
    sys.exit(check())
