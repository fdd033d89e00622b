"""requirements.txt is what the Functions host installs: every third-party module the app's
code imports must come from a distribution it lists (or one of theirs), and it lists nothing
only the tests use."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ("entra_backup", "api", "orchestrators", "activities", "function_app.py")
LOCAL = {"entra_backup", "api", "orchestrators", "activities", "function_app"}
TEST_ONLY = {"msgraph-sdk", "jsonschema-test-suite", "pytest", "starlette", "uvicorn"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _listed(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if match:
            names.add(_norm(match.group(1)))
    return names


def _closure(roots: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # only under a marker this Python does not meet
            continue
        for requirement in requirements:
            if "extra ==" not in requirement:
                todo.append(_norm(re.match(r"[A-Za-z0-9._-]+", requirement).group(0)))
    return seen


def _imports() -> set[str]:
    modules: set[str] = set()
    for root in APP:
        path = ROOT / root
        for source in [path] if path.is_file() else path.rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - LOCAL


def test_every_module_the_app_imports_comes_from_requirements_txt() -> None:
    runtime = _closure(_listed(ROOT / "requirements.txt"))
    owners = metadata.packages_distributions()
    missing = sorted(module for module in _imports()
                     if not any(_norm(d) in runtime for d in owners.get(module, [module])))
    assert missing == []


def test_requirements_txt_carries_nothing_only_the_tests_use() -> None:
    assert _listed(ROOT / "requirements.txt") & TEST_ONLY == set()


def test_a_cold_start_does_not_load_the_storage_or_graph_sdks() -> None:
    """Every scale-out instance imports function_app; the storage and Graph clients load with
    the first request or activity that needs them (docs/benchmarks.md, cold import)."""
    import subprocess

    heavy = ("azure.storage.blob", "azure.data.tables", "httpx", "msgraph_core", "jsonschema")
    code = ("import sys, function_app; function_app.app.get_functions(); "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == ""
