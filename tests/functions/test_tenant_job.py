"""The `tenant_job` entity through the replay harness (the SDK's entity batch code), and its
pure lease rules. A test orchestrator calls the operations the way `recovery` and the HTTP
handlers do: `call_entity` from an orchestration, `signal_entity`/`read_entity_state` from a
client (here the harness's DurableBackend methods).
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import pytest

from orchestrators import lease
from orchestrators.tenant_job import bp as tenant_job_bp
from tests.support.durable_harness import Harness

app = df.DFApp()
app.register_functions(tenant_job_bp)

RELEASED = {"holder": None, "jobKind": None, "jobId": None, "startedAt": None, "cancel": False}


@app.orchestration_trigger(context_name="context")
def entity_script(context: df.DurableOrchestrationContext):
    """Call each [operation, input] on tenant_job/<tenant> in order; collect results or errors."""
    script = context.get_input()
    entity = df.EntityId("tenant_job", script["tenant"])
    if script.get("together"):  # one episode sends all: the entity runs them in one batch
        return (yield context.task_all([context.call_entity(entity, operation, payload)
                                        for operation, payload in script["ops"]]))
    results: list[Any] = []
    for operation, payload in script["ops"]:
        try:
            results.append((yield context.call_entity(entity, operation, payload)))
        except Exception as exc:
            results.append({"error": str(exc)})
    return results


def _acquire(instance: str, job: str, kind: str = "recovery") -> list[Any]:
    return ["acquire", {"instanceId": instance, "jobKind": kind, "jobId": job,
                        "startedAt": "2026-03-02T08:00:00Z"}]


def run(harness: Harness, ops: list[list[Any]], tenant: str = "contoso",
        instance: str = "script") -> list[Any]:
    harness.start("entity_script", instance, {"tenant": tenant, "ops": ops})
    harness.run_until_idle()
    status = harness.status(instance)
    assert status["runtimeStatus"] == "Completed", status
    return list(status["output"])


@pytest.fixture
def harness() -> Harness:
    return Harness(app)


def test_acquire_contend_reacquire_release(harness: Harness) -> None:
    results = run(harness, [
        _acquire("job-1", "r1"),
        _acquire("job-2", "r2", "diffReport"),
        _acquire("job-1", "r1"),
        ["release", {"instanceId": "job-2"}],
        ["get", None],
        ["release", {"instanceId": "job-1"}],
        ["get", None],
        _acquire("job-2", "r2", "diffReport"),
    ])
    held = {"holder": "job-1", "jobKind": "recovery", "jobId": "r1",
            "startedAt": "2026-03-02T08:00:00Z", "cancel": False}
    assert results[0] == {"granted": True, "lease": held}
    assert results[1] == {"granted": False, "lease": held}  # names the running job
    assert results[2] == {"granted": True, "lease": held}  # a replayed acquire is idempotent
    assert results[3] == {"released": False}  # not the holder
    assert results[4] == held
    assert results[5] == {"released": True}
    assert results[6] == RELEASED
    assert results[7]["granted"] is True and results[7]["lease"]["jobKind"] == "diffReport"
    assert harness.entity_state("tenant_job", "contoso")["holder"] == "job-2"


def test_request_cancel_only_for_the_holding_job(harness: Harness) -> None:
    results = run(harness, [
        ["request_cancel", {"jobId": "r1"}],
        _acquire("job-1", "r1"),
        ["request_cancel", {"jobId": "other"}],
        ["get", None],
        ["request_cancel", {"jobId": "r1"}],
        ["get", None],
        _acquire("job-1", "r1"),
    ])
    assert results[0] == {"accepted": False}  # nothing running
    assert results[2] == {"accepted": False}
    assert results[3]["cancel"] is False
    assert results[4] == {"accepted": True}
    assert results[5]["cancel"] is True
    assert results[6]["lease"]["cancel"] is True  # a re-acquire does not clear the request


def test_force_release_clears_only_the_named_holder(harness: Harness) -> None:
    results = run(harness, [
        ["force_release", None],
        _acquire("job-1", "r1"),
        ["force_release", {"instanceId": "job-0"}],
        ["force_release", {"instanceId": "job-1"}],
        ["get", None],
        _acquire("job-2", "r2"),
        ["force_release", {}],
        ["get", None],
    ])
    assert results[0] == {"released": False}
    assert results[2] == {"released": False}  # job-1 still holds it
    assert results[3] == {"released": True}
    assert results[4] == RELEASED
    assert results[6] == {"released": True}  # without instanceId: clears whoever holds it
    assert results[7] == RELEASED


def test_every_operation_sets_its_own_result_within_one_batch(harness: Harness) -> None:
    """Operations queued together run in one entity batch; a result must never leak from the
    previous operation (the SDK keeps `_result` between operations of a batch)."""
    harness.signal("tenant_job", "contoso", "acquire", _acquire("job-1", "r1")[1])
    harness.signal("tenant_job", "contoso", "request_cancel", {"jobId": "r1"})
    harness.start("entity_script", "script", {"tenant": "contoso", "together": True, "ops": [
        ["release", {"instanceId": "job-9"}], ["get", None],
        ["request_cancel", {"jobId": "other"}], _acquire("job-2", "r2"),
        ["force_release", {"instanceId": "job-2"}]]})
    harness.run_until_idle()
    assert harness.entity_batch_sizes == [2, 5]
    results = harness.status("script")["output"]
    assert results[0] == {"released": False}
    assert results[1]["holder"] == "job-1" and results[1]["cancel"] is True
    assert results[2] == {"accepted": False}
    assert results[3]["granted"] is False
    assert results[4] == {"released": False}
    assert harness.entity_state("tenant_job", "contoso")["holder"] == "job-1"


def test_bad_input_and_unknown_operations_fail_the_call(harness: Harness) -> None:
    results = run(harness, [["bogus", {}], ["acquire", {"instanceId": "job-3"}],
                            ["acquire", "not an object"], ["get", None]])
    assert "unknown tenant_job operation" in results[0]["error"]
    assert "jobKind must be" in results[1]["error"]
    assert "takes a JSON object" in results[2]["error"]
    assert results[3] == RELEASED


def test_state_is_explicit_json_per_tenant(harness: Harness) -> None:
    assert harness.entity_state("tenant_job", "contoso") is None
    run(harness, [_acquire("job-1", "r1"), ["release", {"instanceId": "job-1"}]])
    assert harness.entity_state("tenant_job", "contoso") == RELEASED
    assert harness.entity_state("tenant_job", "fabrikam") is None


def test_lease_rules_without_the_sdk() -> None:
    held, answer = lease.apply(lease.RELEASED, "acquire", _acquire("a", "j")[1])
    assert answer["granted"] and held.holder == "a"
    same, again = lease.apply(held, "acquire", {**_acquire("a", "j")[1], "startedAt": "later"})
    assert again["granted"] and same == held  # keeps the original start time
    with pytest.raises(ValueError, match="instanceId"):
        lease.apply(held, "release", {})
    with pytest.raises(ValueError, match="jobId"):
        lease.apply(lease.RELEASED, "acquire", {"instanceId": "a", "jobKind": "recovery"})
    assert lease.Lease.from_json(held.to_json()) == held
    assert lease.Lease.from_json(None) == lease.RELEASED
