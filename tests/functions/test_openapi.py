"""docs/openapi.json (Swagger 2.0, what a Logic Apps custom connector imports) and the
registered HTTP functions describe the same API: every route and method both ways, one
operationId per function, every path parameter declared, every $ref resolvable, and every 202
documenting Location and Retry-After."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.functions.api_helpers import http_routes

DOC = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): operation for path, item in DOC["paths"].items()
            for method, operation in item.items()}


def test_the_document_and_the_registered_routes_are_equal_both_ways() -> None:
    registered = {(method, f"/{route}") for method, route, _, _ in http_routes()}
    assert set(_operations()) == registered
    names = {(method, f"/{route}"): name for method, route, name, _ in http_routes()}
    assert {key: op["operationId"] for key, op in _operations().items()} == names


def test_it_is_swagger_2_with_entra_security_and_declared_parameters() -> None:
    assert DOC["swagger"] == "2.0" and DOC["basePath"] == "/api"
    assert DOC["securityDefinitions"]["entra_id"]["type"] == "oauth2"
    for (method, path), operation in _operations().items():
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), (method, path)
        accepted = operation["responses"].get("202")
        if accepted is not None:
            assert set(accepted["headers"]) == {"Location", "Retry-After"}, (method, path)
        if path != "/health":
            assert "401" in operation["responses"] and "403" in operation["responses"]
            assert "security" not in operation  # the document-wide Entra ID requirement
        else:
            assert operation["security"] == []


def test_every_reference_resolves() -> None:
    refs = re.findall(r'"\$ref": "#/(\w+)/([^"]+)"', json.dumps(DOC))
    assert refs
    for section, name in refs:
        assert name in DOC[section], f"#/{section}/{name}"
