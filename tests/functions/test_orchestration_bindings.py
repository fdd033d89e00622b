"""The snapshot/diff-report orchestrations, activities and timers as the host reads them
(`app.get_functions()`), and the names the orchestrators call matching what is registered."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACTIVITIES = {"begin_snapshot", "capture_kind", "finish_kind", "finish_snapshot", "drift_check",
              "begin_diff", "diff_kind", "assemble_report"}


@pytest.fixture(scope="module")
def functions() -> dict[str, Any]:
    """Each registered function by name (get_functions() may run once per app object)."""
    import function_app
    from tests.support.durable_harness import app_functions

    return {f.get_function_name(): f for f in app_functions(function_app.app)}


def bindings(function: Any) -> list[dict[str, Any]]:
    return list(function.get_bindings_dict()["bindings"])


def trigger(function: Any) -> dict[str, Any]:
    return dict(function.get_trigger().get_dict_repr())


def test_orchestrators_are_generators_bound_to_their_contract_names(
        functions: dict[str, Any]) -> None:
    for name in ("snapshot", "diff_report"):
        assert [(b["type"], b["name"]) for b in bindings(functions[name])] == [
            ("orchestrationTrigger", "context")]
        assert trigger(functions[name]).get("orchestration") in (None, name)


def test_activities_have_their_contract_names_and_one_request_input(
        functions: dict[str, Any]) -> None:
    for name in ACTIVITIES:
        bound = bindings(functions[name])
        assert [(b["type"], b["name"]) for b in bound] == [("activityTrigger", "request")], name


def test_timers_read_their_schedules_from_app_settings(functions: dict[str, Any]) -> None:
    snapshot_timer = {b["type"]: b for b in bindings(functions["snapshot_timer"])}
    assert set(snapshot_timer) == {"timerTrigger", "durableClient"}
    assert snapshot_timer["timerTrigger"]["schedule"] == "%SNAPSHOT_SCHEDULE%"
    assert snapshot_timer["timerTrigger"]["runOnStartup"] is False
    assert snapshot_timer["timerTrigger"]["useMonitor"] is True
    assert snapshot_timer["timerTrigger"]["name"] == "timer"
    assert snapshot_timer["durableClient"]["name"] == "client"
    retention = bindings(functions["retention_timer"])
    assert [(b["type"], b["schedule"], b["runOnStartup"], b["useMonitor"]) for b in retention] \
        == [("timerTrigger", "%RETENTION_SCHEDULE%", False, True)]


def test_schedule_defaults_are_documented() -> None:
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert values["SNAPSHOT_SCHEDULE"] == "0 0 23 * * *"
    assert values["RETENTION_SCHEDULE"] == "0 30 23 * * *"
    assert values["ARCHIVE_SCHEDULE"] == "0 0 1 * * 0"


def test_every_setting_a_binding_names_is_defined_locally_and_always_in_azure(
        functions: dict[str, Any]) -> None:
    """The host resolves each %SETTING% of every binding when it starts: one undefined setting
    and no function of the app runs. So each must be in local.settings.example.json and in the
    template's unconditional app settings."""
    named = {value.strip("%") for function in functions.values() for binding in bindings(function)
             for value in binding.values() if isinstance(value, str)
             and value.startswith("%") and value.endswith("%")}
    assert {"SNAPSHOT_SCHEDULE", "RETENTION_SCHEDULE", "ARCHIVE_SCHEDULE"} <= named
    local = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert named <= set(local)
    bicep = (ROOT / "infra" / "modules" / "function.bicep").read_text()
    always = bicep[bicep.index("var appSettings = {"):]
    always = always[:always.index("\n}")]
    assert all(f"\n  {name}: " in always for name in named), named


def test_every_engine_setting_is_listed_and_explained() -> None:
    from entra_backup import settings

    names = {value for key, value in vars(settings).items() if key.endswith("_ENV")}
    example = json.loads((ROOT / "local.settings.example.json").read_text())
    assert len(names) >= 11
    assert names <= set(example["Values"]) and names <= set(example["_comments"])


def _called(module: Path, method: str) -> set[str]:
    """First string arguments of context.<method>(...) calls in a module."""
    names = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == method and node.args
                and isinstance(node.args[0], ast.Constant)):
            names.add(node.args[0].value)
    return names


def test_every_activity_an_orchestrator_calls_is_registered(functions: dict[str, Any]) -> None:
    registered = {trigger(f).get("activity") or name for name, f in functions.items()
                  if trigger(f)["type"] == "activityTrigger"}
    called = set()
    for path in (ROOT / "orchestrators").glob("*.py"):
        called |= _called(path, "call_activity")
    assert ACTIVITIES - {"finish_kind", "capture_kind", "diff_kind"} <= called
    # waves.py passes the per-kind activity by variable: its callers name them
    called |= {"capture_kind", "diff_kind"}
    assert called <= registered, called - registered


def test_every_orchestrator_started_by_name_is_registered(functions: dict[str, Any]) -> None:
    orchestrators = {trigger(f).get("orchestration") or name for name, f in functions.items()
                     if trigger(f)["type"] == "orchestrationTrigger"}
    started = _called(ROOT / "orchestrators" / "schedule.py", "start_new")
    from orchestrators.schedule import ORCHESTRATOR

    assert {ORCHESTRATOR} | started <= orchestrators
    assert {"snapshot", "diff_report"} <= orchestrators
