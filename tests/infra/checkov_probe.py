"""Run inside .venv-checkov: what checkov's own Bicep parser (pycep-parser 0.5.1) sees.

Prints JSON {file: {"resources": {name: type}, "error": str|null}} plus the resource types
checkov has Bicep checks for, so tests/infra can compare checkov's reported resources with
the test suite's own parse. A file this parser cannot read shows as an error, never as a pass.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from checkov.bicep.runner import Runner
from pycep import BicepParser


def checked_types() -> list[str]:
    """Resource types the Bicep runner has at least one check for (its loaded registry)."""
    registry = Runner.block_type_registries["resources"]
    return sorted(set(registry.checks) | set(getattr(registry, "wildcard_checks", {})))


def main(root: str) -> None:
    parser = BicepParser()
    files: dict[str, dict[str, object]] = {}
    for path in sorted(Path(root).rglob("*.bicep")):
        try:
            doc = parser.parse(file_path=path)
        except Exception as exc:  # any parse failure is reported, never hidden
            files[str(path)] = {"resources": {}, "error": f"{type(exc).__name__}: {exc}"[:500]}
            continue
        resources = {name: body["type"] for name, body in doc.get("resources", {}).items()
                     if not body.get("existing")}
        files[str(path)] = {"resources": resources, "error": None}
    print(json.dumps({"files": files, "checked_types": checked_types()}))


if __name__ == "__main__":
    main(sys.argv[1])
