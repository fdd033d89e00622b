"""Entity `tenant_job` (key = tenant id): the per-tenant job lease (rules in `lease.py`).

Operations: acquire, release, request_cancel, get, force_release (CONTRACT-9). The state is
written back on every operation, so it is always explicit JSON, and every branch sets a
result: in the 1.x SDK an operation that sets none returns the previous operation's result
in the same batch (functions.md §0.2). Python entities must be synchronous.
"""

from __future__ import annotations

import azure.durable_functions as df

from orchestrators import lease

bp = df.Blueprint()


@bp.entity_trigger(context_name="context", entity_name="tenant_job")
def tenant_job(context: df.DurableEntityContext) -> None:
    current = lease.Lease.from_json(context.get_state(dict))
    updated, result = lease.apply(current, context.operation_name or "", context.get_input())
    context.set_state(updated.to_json())
    context.set_result(result)
