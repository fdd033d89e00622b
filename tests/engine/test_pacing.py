"""The pacer's reaction to Graph's throttling signals (real clock, short waits)."""

from __future__ import annotations

from entra_backup._pacing import DIRECTORY, GraphStats, Pacer


def _pacer() -> tuple[Pacer, GraphStats]:
    stats = GraphStats()
    return Pacer(min_interval=0.2, max_interval=5.0, stats=stats), stats


async def test_retry_after_holds_the_gate_then_full_speed_again() -> None:
    pacer, stats = _pacer()
    epoch = await pacer.admit(DIRECTORY)
    pacer.throttled(DIRECTORY, 0.15, epoch)
    assert pacer.interval(DIRECTORY) == 0  # Graph said when; no crawl afterwards
    await pacer.admit(DIRECTORY)
    waited = stats.paced_seconds
    assert 0.1 < waited < 0.3
    for _ in range(50):  # the gate is open: nobody waits any more
        await pacer.admit(DIRECTORY)
    assert stats.paced_seconds == waited


async def test_without_retry_after_the_interval_doubles_once_per_epoch() -> None:
    pacer, _ = _pacer()
    epoch = await pacer.admit("conditionalAccess")
    for _ in range(5):  # five requests refused together: one signal
        pacer.throttled("conditionalAccess", None, epoch)
    assert pacer.interval("conditionalAccess") == 0.2
    pacer.throttled("conditionalAccess", None, None)  # a batch entry: always a new signal
    assert pacer.interval("conditionalAccess") == 0.4
    assert pacer.interval(DIRECTORY) == 0


async def test_a_warning_within_the_limit_does_not_slow_a_refusal_share_does() -> None:
    pacer, _ = _pacer()
    epoch = await pacer.admit(DIRECTORY)
    pacer.answered(DIRECTORY, 0.9, epoch)
    pacer.answered(DIRECTORY, 1.0, epoch)
    assert pacer.interval(DIRECTORY) == 0
    pacer.answered(DIRECTORY, 1.4, epoch)
    assert pacer.interval(DIRECTORY) > 0
    for _ in range(30):
        pacer.answered(DIRECTORY, None, epoch)
    assert pacer.interval(DIRECTORY) == 0
