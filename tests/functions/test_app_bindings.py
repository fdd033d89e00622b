"""The bindings the Functions host would read, checked without the host (get_functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import azure.functions as func

ROOT = Path(__file__).resolve().parents[2]


def test_function_app_registers_health_route() -> None:
    from tests.functions.api_helpers import registered

    functions = registered()
    assert "health" in functions
    bindings = functions["health"].get_bindings_dict()["bindings"]
    trigger = next(b for b in bindings if b["type"] == "httpTrigger")
    assert trigger["route"] == "health"
    assert trigger["authLevel"] == func.AuthLevel.ANONYMOUS
    assert [str(m.value) for m in trigger["methods"]] == ["GET"]


def test_health_answers_ok_with_engine_version() -> None:
    from api.health import health
    from entra_backup import __version__

    handler = health.build().get_user_function()
    response = handler(func.HttpRequest("GET", "/api/health", body=b""))
    assert response.status_code == 200
    assert f'"engineVersion": "{__version__}"' in response.get_body().decode()


def test_engine_never_imports_azure_functions() -> None:
    """The engine must run without the Functions host (CLI, tests, other hosts)."""
    offenders = []
    for path in (ROOT / "entra_backup").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "azure.functions" or n.startswith(("azure.functions.",
                                                          "azure.durable_functions"))
                   for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_graphsim_does_not_import_the_engine() -> None:
    """A wrong kind declaration in the engine must not be mirrored by the simulator."""
    for path in (ROOT / "graphsim").rglob("*.py"):
        assert "entra_backup" not in path.read_text(), path
