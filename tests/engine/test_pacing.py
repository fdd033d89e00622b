"""The pacer's reaction to Graph's throttling signals, on simulated time (no real waits)."""

from __future__ import annotations

import asyncio

import pytest

from entra_backup.graph.pacing import (
    _BUCKET_SECONDS,
    _RATE_BACKOFF,
    _RATE_PROBE,
    DIRECTORY,
    GraphStats,
    Pacer,
    RateMemory,
    is_budget_429,
)


class _Clock:
    """Simulated monotonic time; `sleep` moves it on instead of waiting."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is


def _pacer() -> tuple[Pacer, GraphStats, _Clock]:
    stats, clock = GraphStats(), _Clock()
    pacer = Pacer(min_interval=0.2, max_interval=5.0, stats=stats, clock=clock,
                  sleep=clock.sleep)
    return pacer, stats, clock


async def test_retry_after_holds_the_gate_then_full_speed_again() -> None:
    pacer, stats, clock = _pacer()
    epoch = await pacer.admit(DIRECTORY)
    pacer.throttled(DIRECTORY, 0.15, epoch)
    assert pacer.interval(DIRECTORY) == 0  # Graph said when; no crawl afterwards
    await pacer.admit(DIRECTORY)
    assert stats.paced_seconds == pytest.approx(0.15)
    assert clock.now == pytest.approx(100.15)
    for _ in range(50):  # the gate is open: nobody waits any more
        await pacer.admit(DIRECTORY)
    assert stats.paced_seconds == pytest.approx(0.15)
    assert clock.now == pytest.approx(100.15)


async def test_without_retry_after_the_interval_doubles_once_per_epoch() -> None:
    pacer, _, _ = _pacer()
    epoch = await pacer.admit("conditionalAccess")
    for _ in range(5):  # five requests refused together: one signal
        pacer.throttled("conditionalAccess", None, epoch)
    assert pacer.interval("conditionalAccess") == 0.2
    pacer.throttled("conditionalAccess", None, None)  # a batch entry: always a new signal
    assert pacer.interval("conditionalAccess") == 0.4
    assert pacer.interval(DIRECTORY) == 0


async def test_a_warning_within_the_limit_does_not_slow_a_refusal_share_does() -> None:
    pacer, _, _ = _pacer()
    epoch = await pacer.admit(DIRECTORY)
    pacer.answered(DIRECTORY, 0.9, epoch)
    pacer.answered(DIRECTORY, 1.0, epoch)
    assert pacer.interval(DIRECTORY) == 0
    pacer.answered(DIRECTORY, 1.4, epoch)
    assert pacer.interval(DIRECTORY) > 0
    for _ in range(30):
        pacer.answered(DIRECTORY, None, epoch)
    assert pacer.interval(DIRECTORY) == 0


def test_the_refill_rate_is_learned_between_two_waves() -> None:
    clock = _Clock()
    pacer = Pacer(min_interval=0.2, max_interval=5.0, clock=clock)
    pacer.throttled(DIRECTORY, 1.0, None)  # first wave: the initial burst is spent
    assert pacer.budget_rate(DIRECTORY) is None
    clock.now += 0.5
    pacer.throttled(DIRECTORY, 1.0, None)  # same wave: the gate is still shut
    pacer.charged(DIRECTORY, 700, entries=40, accepted=35, refused=5)  # after the gate
    pacer.charged(DIRECTORY, 95)  # a cursor page
    clock.now += 3.5
    pacer.throttled(DIRECTORY, 1.0, None)  # empty again 4 s after the first wave
    rate = pacer.budget_rate(DIRECTORY)
    # refused units count too: Graph keeps charging usage while it throttles
    assert rate is not None and abs(rate - _RATE_BACKOFF * 800 / 4.0) < 1e-9
    assert pacer.budget_rate("conditionalAccess") is None
    assert pacer.interval(DIRECTORY) == 0


async def test_bulk_waits_for_the_learned_budget_cursors_do_not() -> None:
    pacer, stats, clock = _pacer()
    pacer.throttled(DIRECTORY, 0.01, None)
    await pacer.admit(DIRECTORY)  # through the first gate
    pacer.charged(DIRECTORY, 20)
    clock.now += 0.1
    pacer.throttled(DIRECTORY, 0.01, None)  # 20 RU in 0.11 s: ~176 RU/s after the backoff
    rate = pacer.budget_rate(DIRECTORY)
    assert rate == pytest.approx(_RATE_BACKOFF * 20 / 0.11)
    await pacer.admit(DIRECTORY)  # the gate again
    before = stats.paced_seconds
    for _ in range(10):  # cursors: never held by the client-side bucket
        await pacer.admit(DIRECTORY)
    assert stats.paced_seconds == before
    for _ in range(3):  # 3 batches of 10 entries at 1 RU against a bucket refilled 0.01 s
        await pacer.admit(DIRECTORY, entries=10)
    # the first goes at once; the other two wait for the 20 RU less what had refilled
    assert stats.paced_seconds - before == pytest.approx(20 / rate - 0.01, rel=1e-2)


def test_429s_under_load_are_not_budget_waves() -> None:
    clock = _Clock()
    pacer = Pacer(min_interval=0.2, max_interval=5.0, clock=clock)
    for _ in range(3):
        pacer.throttled(DIRECTORY, 1.0, None, budget=is_budget_429("CPULimitExceeded"))
        pacer.charged(DIRECTORY, 500)
        clock.now += 2.0
    assert pacer.budget_rate(DIRECTORY) is None
    assert is_budget_429(None) and is_budget_429("ResourceUnitLimitExceeded")


async def test_between_the_first_wave_and_a_learned_rate_little_bulk_is_in_flight() -> None:
    pacer, _, clock = _pacer()
    pacer.throttled(DIRECTORY, 0.001, None)  # the first wave: no rate known yet
    clock.now += 0.005
    await pacer.admit(DIRECTORY, entries=20)
    await pacer.admit(DIRECTORY, entries=20)
    third = asyncio.create_task(pacer.admit(DIRECTORY, entries=20))
    for _ in range(50):  # let it try for a while (0.5 s of simulated time)
        await asyncio.sleep(0)
    assert not third.done()  # what is in flight when the bucket runs dry is refused
    assert clock.now > 100.1
    await pacer.admit(DIRECTORY)  # a cursor page is never held by this
    pacer.charged(DIRECTORY, 20, entries=20, accepted=20)
    await asyncio.wait_for(third, timeout=1)


def _learn(pacer: Pacer, clock: _Clock) -> float:
    """Two waves 4 s apart with 800 RU charged between them (as in the test above)."""
    pacer.throttled(DIRECTORY, 1.0, None)
    clock.now += 1.0
    pacer.charged(DIRECTORY, 800)
    clock.now += 3.0
    pacer.throttled(DIRECTORY, 1.0, None)
    rate = pacer.budget_rate(DIRECTORY)
    assert rate is not None
    return rate


def test_a_new_session_starts_from_the_rate_learned_in_this_process() -> None:
    """An activity's new GraphSession keeps what the last one learned about the tenant's
    budget (Graph's limits are per app and tenant: graph.md 1.1), nothing else's."""
    clock = _Clock()
    memory = RateMemory(ttl=600, clock=clock)
    scope = ("https://graph.microsoft.com", "tenant-a")
    first = Pacer(min_interval=0.2, max_interval=5.0, clock=clock, memory=memory, scope=scope)
    rate = _learn(first, clock)
    second = Pacer(min_interval=0.2, max_interval=5.0, clock=clock, memory=memory,
                   scope=scope)
    assert second.budget_rate(DIRECTORY) == rate
    assert second.budget_rate("conditionalAccess") is None  # another service's budget
    other = Pacer(min_interval=0.2, max_interval=5.0, clock=clock, memory=memory,
                  scope=("https://graph.microsoft.com", "tenant-b"))
    assert other.budget_rate(DIRECTORY) is None
    alone = Pacer(min_interval=0.2, max_interval=5.0, clock=clock)
    assert alone.budget_rate(DIRECTORY) is None
    clock.now += 601
    assert Pacer(min_interval=0.2, max_interval=5.0, clock=clock, memory=memory,
                 scope=scope).budget_rate(DIRECTORY) is None  # stale: learned again


async def test_a_remembered_rate_paces_bulk_from_the_first_request() -> None:
    """Without the memory a new session lets bulk run free until two waves of 429s."""
    clock = _Clock()
    memory = RateMemory(clock=clock)
    scope = ("http://graph", "t")
    _learn(Pacer(min_interval=0.2, max_interval=5.0, clock=clock, memory=memory, scope=scope),
           clock)
    stats = GraphStats()
    paced = Pacer(min_interval=0.2, max_interval=5.0, stats=stats, clock=clock,
                  sleep=clock.sleep, memory=memory, scope=scope)
    for _ in range(10):
        await paced.admit(DIRECTORY, entries=20)
    assert stats.paced_seconds > 0
    fresh_stats = GraphStats()
    fresh = Pacer(min_interval=0.2, max_interval=5.0, stats=fresh_stats, clock=clock,
                  sleep=clock.sleep)
    for _ in range(10):
        await fresh.admit(DIRECTORY, entries=20)
    assert fresh_stats.paced_seconds == 0


def test_the_rate_memory_is_shared_across_threads_and_event_loops() -> None:
    import asyncio
    import threading

    from entra_backup.connect import connect
    from entra_backup.graph.pacing import RATES
    from entra_backup.settings import Settings

    conn = connect(Settings(graph_url="http://127.0.0.1:9", graph_token="x"))
    scope = ("http://127.0.0.1:9", "tenant-threads")
    RATES.remember(scope, DIRECTORY, 123.0, 1.0)
    seen: list[float | None] = []

    async def one() -> None:
        async with conn.graph("tenant-threads") as session:
            seen.append(session.pacer.budget_rate(DIRECTORY))

    worker = threading.Thread(target=lambda: asyncio.run(one()))
    worker.start()
    worker.join()
    asyncio.run(one())
    assert seen == [123.0, 123.0]


async def test_sessions_of_one_process_share_one_lane_not_only_the_rate() -> None:
    """Up to four activities run at once in a Functions worker, each with its own session.
    Graph keeps one budget per app and tenant for all of them (graph.md 1.1,
    https://learn.microsoft.com/graph/throttling-limits), so together they get the refill
    once, not once each, and a Retry-After one of them is given holds the others too."""
    clock = _Clock()
    memory = RateMemory(clock=clock)
    scope = ("http://graph", "t")
    rate = _learn(Pacer(min_interval=0.2, max_interval=5.0, clock=clock, memory=memory,
                        scope=scope), clock)  # the gate is shut 1 s after the second wave
    pacers = [Pacer(min_interval=0.2, max_interval=5.0, clock=clock, sleep=clock.sleep,
                    memory=memory, scope=scope) for _ in range(4)]
    start = clock.now
    for _ in range(5):  # 20 batches of 20 one-RU entries: 400 RU
        for pacer in pacers:
            await pacer.admit(DIRECTORY, entries=20)
    # one bucket: the gate, then 400 RU less what refilled behind the gate and the last
    # batch (admitted on a non-negative bucket); four buckets would take a quarter of that
    burst = min(_BUCKET_SECONDS, 1.0) * rate
    assert clock.now - start == pytest.approx(1.0 + (400 - burst - 20) / rate, rel=0.02)
    pacers[0].throttled(DIRECTORY, 2.0, None)
    before = clock.now
    await pacers[3].admit(DIRECTORY)  # a cursor of another session waits at the same gate
    assert clock.now - before == pytest.approx(2.0)


async def test_an_idle_lane_does_not_probe_its_rate_upwards() -> None:
    """The rate grows 0.1 %/s while bulk runs without a wave; time with nothing sent says
    nothing about the budget, so an hour idle is one second of probing, not 3.6x."""
    clock = _Clock()
    memory = RateMemory(ttl=7200, clock=clock)
    pacer = Pacer(min_interval=0.2, max_interval=5.0, clock=clock, sleep=clock.sleep,
                  memory=memory, scope=("http://graph", "t"))
    rate = _learn(pacer, clock)
    clock.now += 3600
    await pacer.admit(DIRECTORY, entries=1)
    assert pacer.budget_rate(DIRECTORY) == pytest.approx(rate * (1 + _RATE_PROBE))


async def test_refill_unspent_while_demand_dips_is_spent_later_up_to_one_window() -> None:
    """Graph's bucket keeps the refill a client did not spend, up to one window (8,000 RU
    per 10 s for a large tenant: graph.md 1.2, https://learn.microsoft.com/graph/throttling-limits),
    so the client's count does too: after a dip, bulk catches up without waiting, but never
    on more than one window of saved refill."""
    pacer, stats, clock = _pacer()
    rate = _learn(pacer, clock)  # the bucket is empty at the wave; the gate shut for 1 s
    clock.now += 4.0  # nothing to send for 4 s
    for _ in range(int(4 * rate) // 20):  # 4 s worth of 20-entry batches at 1 RU
        await pacer.admit(DIRECTORY, entries=20)
    assert stats.paced_seconds == 0
    clock.now += 60.0  # a long dip: Graph's bucket is full after 10 s
    batches = int(12 * rate) // 20  # 12 s worth
    for _ in range(batches):
        await pacer.admit(DIRECTORY, entries=20)
    saved = _BUCKET_SECONDS * rate
    assert stats.paced_seconds == pytest.approx((batches * 20 - 20 - saved) / rate, rel=0.05)
    assert 1.0 < stats.paced_seconds < 3.0  # neither the whole minute nor nothing


async def test_refused_units_come_off_the_client_bucket_like_accepted_ones() -> None:
    """Graph charges refused requests too ("usage keeps accruing" while a client calls a
    throttled endpoint: graph.md 1.6, https://learn.microsoft.com/graph/throttling), so a
    batch of 20 with 15 refused spends 20 RU of the client's count of Graph's bucket, as 20
    accepted ones do; giving the 15 back ran the client into Graph's debt."""

    async def paced(units: float, accepted: int, refused: float) -> float:
        pacer, stats, clock = _pacer()
        _learn(pacer, clock)
        clock.now += 1.0  # the gate opens; one second of refill
        for _ in range(20):
            await pacer.admit(DIRECTORY, entries=20)
            pacer.charged(DIRECTORY, units, entries=20, accepted=accepted, refused=refused)
        return stats.paced_seconds

    all_accepted = await paced(20.0, 20, 0.0)
    assert all_accepted > 0.5
    assert await paced(5.0, 5, 15.0) == pytest.approx(all_accepted)
