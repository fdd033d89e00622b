"""Offline reading of infra/*.bicep with pycep-parser (no Bicep compiler exists here).

pycep gives each file's parameters, variables, resources, modules and outputs as JSON-like
dicts; a bare identifier stays a string ("retentionDays"), which is how the tests follow a
value through a module's params.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parse(path: Path) -> dict[str, Any]:
    return dict(BicepParser().parse(file_path=path))


def module(name: str) -> dict[str, Any]:
    """A file under infra/modules by stem, e.g. module("storage")."""
    return parse(INFRA / "modules" / f"{name}.bicep")


def resource(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """A resource's body (`config`), asserting it is neither conditional nor a loop."""
    config = doc["resources"][name]["config"]
    assert "condition" not in config and "loop_type" not in config, name
    return dict(config)


def resources_of_type(doc: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: dict(r["config"]) for name, r in doc["resources"].items()
            if r["type"] == type_ and not r.get("existing")}


def main_module_params(name: str) -> dict[str, Any]:
    """The params main.bicep passes to one of its module calls."""
    return dict(parse(INFRA / "main.bicep")["modules"][name]["config"]["params"])
