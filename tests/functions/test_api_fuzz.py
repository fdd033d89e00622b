"""Property-based fuzz of the write routes' bodies and every route's query string: whatever
arrives, the answer is never a 5xx, a refusal has the Graph error shape, and bad input starts
no orchestration and writes no job record."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.functions.api_helpers import seed_snapshot
from tests.functions.conftest import World

SNAPSHOT = "20261201T020000.000Z"
_FIELDS = ["snapshotId", "against", "kinds", "objectIds", "changes", "useDelta", "reportId",
           "selection", "dryRun", "recreateHardDeleted", "reportOnlyCa", "extra", "$top"]
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.text(max_size=40), st.sampled_from([SNAPSHOT, "live", "users", "a" * 32]))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_FIELDS), inner, max_size=4)),
    max_leaves=12)
_bodies = st.one_of(
    st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=5),
    _json,
    st.binary(max_size=60),
)
_query_values = st.one_of(st.text(alphabet=string.printable, max_size=30),
                          st.sampled_from(["0", "1001", "-1", "users,groups", "created", "csv",
                                           "xml", "zzz", "bzo6MQ"]))
_queries = st.dictionaries(st.sampled_from(["$top", "$skiptoken", "kind", "changeType", "id",
                                            "format", "operationId", "nope", "code"]),
                           _query_values, max_size=4)
_FUZZ = settings(max_examples=40, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


def _assert_refused_cleanly(answer: Any) -> None:
    assert answer.status < 500, answer.body
    if answer.status >= 400:
        assert answer.error["code"] and answer.error["message"]


@_FUZZ
@given(route=st.sampled_from(["diff-reports", "recoveries", "backups"]), body=_bodies)
def test_fuzzed_bodies_never_500_and_start_nothing(world: World, route: str, body: Any) -> None:
    if SNAPSHOT not in world.engine.store.list_snapshots(world.tenant):
        seed_snapshot(world.engine.store, world.tenant, SNAPSHOT)
    raw = body if isinstance(body, bytes) else None
    answer = world.api.post(f"tenants/{world.tenant}/{route}",
                            **({"raw": raw} if raw is not None else {"body": body}))
    _assert_refused_cleanly(answer)
    if answer.status >= 400:
        assert world.durable.started == []
        assert world.engine.jobs.list_jobs(world.tenant) == []
    else:  # a valid body (a diff of the seeded snapshot, a backup): started exactly once
        assert answer.status == 202 and len(world.durable.started) == 1
        world.durable.started.clear()
        world.durable.statuses.clear()
        for job in world.engine.jobs.list_jobs(world.tenant):  # free the tenant again
            world.engine.jobs.update_job(world.tenant, job["jobId"], {"status": "failed"})


@_FUZZ
@given(route=st.sampled_from(["backups", "recoveries", f"recoveries/{'e' * 32}",
                              f"diff-reports/{'e' * 32}", f"diff-reports/{'e' * 32}/entries"]),
       query=_queries)
def test_fuzzed_query_strings_never_500(world: World, route: str, query: dict[str, str]) -> None:
    from urllib.parse import urlencode

    answer = world.api.get(f"tenants/{world.tenant}/{route}?{urlencode(query)}")
    _assert_refused_cleanly(answer)
    assert world.durable.started == [] and world.durable.signals == []
