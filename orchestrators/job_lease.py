"""Taking the `tenant_job` lease from an orchestrator: shared by `recovery` and `diff_report`.

The entity's acquire is idempotent for the same instance id (a replayed or retried acquire
is granted again), so this is safe to replay; a refusal names the job that holds the tenant.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df


def lease_of(tenant_id: str) -> df.EntityId:
    return df.EntityId("tenant_job", tenant_id)


def acquire(context: df.DurableOrchestrationContext, tenant_id: str, job_kind: str,
            job_id: str) -> Generator[Any, Any, str | None]:
    """None when this instance holds the lease, else why not (naming the holder)."""
    answer = yield context.call_entity(lease_of(tenant_id), "acquire", {
        "instanceId": context.instance_id, "jobKind": job_kind, "jobId": job_id,
        "startedAt": context.current_utc_datetime.strftime("%Y-%m-%dT%H:%M:%SZ")})
    if answer["granted"]:
        return None
    holder = answer["lease"]
    return (f"tenant {tenant_id} is busy: {holder['jobKind']} job {holder['jobId']} "
            f"(instance {holder['holder']}) holds the job lease")
