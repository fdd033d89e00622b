"""Client-side pacing shared by all requests of one GraphSession, plus its counters.

Graph throttles per service and per (app, tenant), not per connection: after one 429 every
other request in flight would hit the same wall, and hammering a throttled service makes the
penalty longer (graph.md §1.6). So one `Pacer`, owned by the session (never a module global),
keeps a lane per service ("directory", "conditionalAccess"):

- a *gate*: after a 429 nobody on that lane starts before the Retry-After deadline (where
  Graph sends none - Conditional Access and named locations - for one interval, while the
  refused request itself backs off with jitter);
- an *interval* between request starts, for the signals that come without a wait: x2 on a
  429 without Retry-After (at least `min_interval`), x(0.3 + percentage) when a response says
  `x-ms-throttle-limit-percentage` > 1.0, i.e. Graph is already refusing some of the traffic
  (at least min_interval/10), x0.8 on a clean response, 0 again below min_interval/20. Only
  one signal per *epoch* raises the interval: twenty requests sent together and refused
  together are one signal, not twenty doublings.

A 429 *with* Retry-After leaves the interval alone. Graph has said exactly when its bucket
holds enough again; waiting that long and then going at full speed uses the whole refill,
whereas spacing requests out afterwards (as this pacer once did, decaying from Retry-After
by x0.8 per answer) crawled at a tenth of the budget for several Retry-Afters after every
wave - 20-24 % over the budget's minimum time in bench/capture.py. Percentages from 0.8 to
1.0 are a warning only: the traffic is within the limit, and slowing then would leave refill
unused.

Bulk work ($batch fan-outs of per-object reads) and cursors (the next page of a list or
delta read, one at a time) share the budget, but only cursors are on the critical path: a
delta read of a million users is a chain of pages, while the fan-out can go at any pace.
Left alone, the fan-out drains Graph's bucket within a second of every Retry-After and the
next page of every cursor meets a 429 and waits a whole Retry-After again. So each lane
*learns the budget's refill rate* from Graph's own numbers: between two 429 waves the bucket
went from empty to empty, so the resource units it charged in between (`x-ms-resource-unit`
of accepted requests and batch entries, plus refused ones: Graph keeps counting usage while
it throttles) divided by the time is its refill rate. From the second wave on, bulk
requests are admitted against a client-side bucket at 0.97x that rate (+0.1 %/s, so a
budget that grew is found again), and cursors draw on the same bucket without waiting for
it, so the fan-out leaves them room and the bucket never quite runs dry. Between the first
wave and the second, at most two bulk requests are in flight: whatever is in flight when the
bucket runs dry is refused and still charged.

The client-side bucket holds up to one of Graph's windows (10 s) of the learned rate, as
Graph's own bucket does (8,000 RU per 10 s, graph.md 1.2). Demand dips - a kind's chunk
ends and the next one lists a page before it has ids to read, a merge runs, an activity
slot waits - and the refill not spent meanwhile stays in Graph's bucket. With half a second
of burst the client forgot it, Graph's bucket filled with unspent units and no 429 came for
the rest of the run: a traced orchestration run consumed 210 RU/s against a refill of 240
after the rate was learned, 6.5 s of the 8.6 s it was over the minimum. The client's count
cannot run ahead of Graph's: it refills at the learned rate (0.97x the measured one),
charges what Graph charged - refused units included, since Graph keeps them as debt - and a
wave brings it down to zero at most (Graph's bucket is then empty or in debt). Without the
refused units a 10 s bucket refilled during each Retry-After what Graph's spent on its debt,
and the surplus set off the next wave: waves every 4.5 s, 1,949 refusals, +42 % in one run.

What a lane knows outlives its session in a `RateMemory`: a Functions activity gets a new
GraphSession per call, and up to four activities of a fan-out run at once in one worker
process (host.json maxConcurrentActivityFunctions). Graph keeps one budget per (app, tenant)
for all of them, so they share one lane - gate, learned rate and client-side bucket - not
just the rate: four sessions each pacing bulk at the whole learned rate would spend four
times the refill, and a 429 one of them meets holds the others too. `connect()`'s sessions
share the process-wide `RATES`, keyed by (Graph URL, tenant); a lane's learned rate is
forgotten `RATE_MEMORY_SECONDS` after it was last learned. The memory holds plain numbers
behind a thread lock, nothing bound to an event loop, so sessions on other loops or threads
of the same worker process share it.

Numbers here are heuristics [A], not Graph facts; Graph's own signals (Retry-After, the
percentage header) always win.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

DIRECTORY = "directory"
CONDITIONAL_ACCESS = "conditionalAccess"
_CA_PREFIXES = ("identity/conditionalaccess", "identityprotection", "riskdetections",
                "riskyusers")
PRESSURE_THRESHOLD = 1.0  # above this share of the limit Graph is refusing traffic
log = logging.getLogger(__name__)


def service_of(path: str) -> str:
    """The throttling service of a path relative to the version (graph.md §1.1, §1.5)."""
    return CONDITIONAL_ACCESS if path.lstrip("/").lower().startswith(_CA_PREFIXES) else DIRECTORY


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds (possibly fractional) or HTTP-date."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def resource_units(header: str | None) -> float:
    """What Graph charged (x-ms-resource-unit); 1, its floor, where the header is missing."""
    try:
        return float(header) if header else 1.0
    except ValueError:
        return 1.0


BUDGET_REASONS = frozenset({"ResourceUnitLimitExceeded", "WriteLimitExceeded"})


def is_budget_429(information: str | None) -> bool:
    """Whether a 429's x-ms-throttle-information means a spent budget (absent: assume so)."""
    return information is None or information in BUDGET_REASONS


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**(attempt-1)))."""
    return rng.uniform(0.0, min(cap, base * 2.0 ** max(0, attempt - 1)))


@dataclass
class GraphStats:
    """Counters for progress output and benchmarks; one per session."""

    requests: int = 0  # HTTP exchanges sent, retries included
    retries: int = 0  # requests or batch entries sent again
    throttled: int = 0  # 429s seen, batch entries included
    # by_status counts HTTP answers and batch entries alike (a $batch envelope is one 200)
    transport_errors: int = 0  # dropped connections, timeouts
    token_refreshes: int = 0  # forced refreshes after a 401
    batch_entries: int = 0  # sub-requests sent inside $batch, retries included
    paced_seconds: float = 0.0  # time spent waiting at the pacer
    by_status: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in vars(self).items() if k != "by_status"}
        out["by_status"] = {str(k): v for k, v in sorted(self.by_status.items())}
        return out


@dataclass
class _Lane:
    gate: float = 0.0
    interval: float = 0.0
    last_start: float = float("-inf")
    epoch: int = 0
    # budget learning (see the module docstring)
    wave_at: float | None = None  # when the current wave of Retry-After 429s began
    accepted: float = 0.0  # resource units Graph accepted since then
    rate: float | None = None  # learned refill rate, RU/s; None: no limit known yet
    learned_at: float = 0.0  # RateMemory's clock when `rate` was last set
    tokens: float = 0.0  # client-side bucket for bulk admission; negative is debt
    stamp: float = 0.0
    ru_per_entry: float = 1.0  # running mean of what a bulk entry costs
    bulk_in_flight: int = 0  # bulk requests admitted and not yet settled
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


_RATE_BACKOFF = 0.97  # applied to the measured refill rate after each wave
_PROBING_BULK = 2  # bulk requests in flight between the first wave and a learned rate
_RATE_PROBE = 0.001  # per second without a wave: a budget that grew gives no other sign
_BUCKET_SECONDS = 10.0  # client-side burst: one of Graph's windows (graph.md 1.2)


RATE_MEMORY_SECONDS = 600.0  # a rate learned longer ago than this is relearned


class RateMemory:
    """The lanes of every (scope, service), shared by the sessions of one process."""

    def __init__(self, *, ttl: float = RATE_MEMORY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._lock = threading.Lock()
        self._lanes: dict[tuple[str, str, str], _Lane] = {}

    def lane(self, scope: tuple[str, str], service: str) -> _Lane:
        """The one lane of `scope` and `service` in this process; a rate too old is dropped."""
        with self._lock:
            lane = self._lanes.setdefault((*scope, service), _Lane())
        with lane.lock:
            if lane.rate is not None and self._clock() - lane.learned_at > self._ttl:
                lane.rate, lane.wave_at, lane.accepted = None, None, 0.0
        return lane

    def learned(self, lane: _Lane) -> None:
        """`lane` has just learned its rate (called under the lane's lock)."""
        lane.learned_at = self._clock()

    def remember(self, scope: tuple[str, str], service: str, rate: float,
                 ru_per_entry: float) -> None:
        lane = self.lane(scope, service)
        with lane.lock:
            lane.rate, lane.ru_per_entry = rate, ru_per_entry
            lane.tokens, lane.stamp = min(lane.tokens, 0.0), self._clock()  # nothing saved
            self.learned(lane)

    def recall(self, scope: tuple[str, str], service: str) -> tuple[float, float] | None:
        """(rate RU/s, RU per bulk entry) last learned for `scope`, unless too old."""
        lane = self.lane(scope, service)
        return None if lane.rate is None else (lane.rate, lane.ru_per_entry)


RATES = RateMemory()  # process-wide: a Functions worker runs many activities in one process


class Pacer:
    """Admits request starts per service lane; see the module docstring for the rules.

    With `memory` and `scope` (graph url, tenant) a lane starts from the rate last learned
    for that scope, and every rate it learns is remembered there.
    """

    def __init__(
        self,
        *,
        min_interval: float,
        max_interval: float,
        stats: GraphStats | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        memory: RateMemory | None = None,
        scope: tuple[str, str] = ("", ""),
    ) -> None:
        if not 0 < min_interval <= max_interval:
            raise ValueError("need 0 < min_interval <= max_interval")
        self.min_interval = min_interval
        self.max_interval = max_interval
        self._stats = stats if stats is not None else GraphStats()
        self._clock = clock
        self._sleep = sleep  # with `clock`, lets tests run the pacer on simulated time
        self._memory, self._scope = memory, scope
        self._lanes: dict[str, _Lane] = {}

    def _lane(self, service: str) -> _Lane:
        if self._memory is not None:
            return self._memory.lane(self._scope, service)
        lane = self._lanes.get(service)
        if lane is None:
            lane = self._lanes[service] = _Lane()
        return lane

    async def admit(self, service: str, *, entries: int = 0) -> int:
        """Wait for this request's turn on `service`; return the epoch to report back with.

        `entries` > 0 marks bulk work (a $batch of that many reads): once a refill rate is
        known it also waits for that many entries' worth of the client-side bucket.
        No slot is booked ahead: a waiter re-checks the gate and the interval when it wakes,
        so a gate or interval that changed meanwhile applies at once, in both directions.
        """
        lane = self._lane(service)
        while True:
            with lane.lock:  # sessions on other threads share the lane
                now = self._clock()
                start = max(lane.gate, lane.last_start + lane.interval)
                if start <= now and entries and lane.rate is not None:
                    self._refill(lane, now)
                    if lane.tokens < 0:
                        start = now - lane.tokens / lane.rate
                # Between the first wave and a learned rate, everything in flight when the
                # bucket runs dry again is refused (and still counted): keep that little.
                probing = entries and lane.wave_at is not None and lane.rate is None
                if start <= now and probing and lane.bulk_in_flight >= _PROBING_BULK:
                    start = now + 0.01
                if start <= now:
                    lane.last_start = now
                    if entries:
                        lane.bulk_in_flight += 1
                        if lane.rate is not None:
                            lane.tokens -= entries * lane.ru_per_entry
                    return lane.epoch
            self._stats.paced_seconds += start - now
            await self._sleep(start - now)

    def charged(self, service: str, units: float, *, entries: int = 0, accepted: int = 0,
                refused: float = 0.0) -> None:
        """Graph accepted requests costing `units` RU (and refused some costing `refused`).

        For a cursor (`entries` = 0) the units come off the client-side bucket now. For bulk
        work admit() took `entries` x the mean entry cost up front; `accepted` of them were
        answered (the rest were refused and will be admitted again), so only the difference
        is settled here. Refused units count like accepted ones, in the bucket and in the
        refill-rate measurement: Graph keeps counting usage while it throttles (graph.md
        1.6), so its bucket paid for them too, and a client that gave them back to its own
        count ran into the debt Graph kept - a third 429 wave a few seconds after the rate
        was learned, in every traced run.
        """
        lane = self._lane(service)
        with lane.lock:
            lane.accepted += units + refused
            if entries:
                lane.bulk_in_flight = max(0, lane.bulk_in_flight - 1)
            if entries and accepted:
                lane.ru_per_entry += 0.05 * (units / accepted - lane.ru_per_entry)
            if lane.rate is not None:
                spent = units + refused
                lane.tokens -= spent - entries * lane.ru_per_entry if entries else spent

    def _refill(self, lane: _Lane, now: float) -> None:
        assert lane.rate is not None
        elapsed = max(0.0, now - lane.stamp)
        lane.rate *= 1 + _RATE_PROBE * min(elapsed, 1.0)  # an idle lane learns nothing
        lane.tokens = min(lane.rate * _BUCKET_SECONDS, lane.tokens + elapsed * lane.rate)
        lane.stamp = now

    def throttled(
        self, service: str, retry_after: float | None, epoch: int | None, *,
        budget: bool = True,
    ) -> None:
        """A 429 on `service`: close its gate, and slow the lane if Graph gave no wait.

        With Retry-After the gate stays shut that long (Graph said so for the whole app) and
        the interval is untouched. Without it (Conditional Access) the interval doubles and the
        gate shuts for one interval only; the refused request backs off on its own, so one
        unlucky request's long backoff never stalls the others. `epoch` is what `admit`
        returned for the refused request; None (a batch entry, admitted as the envelope)
        always counts as a new signal. `budget` is False when Graph names another cause than
        an exhausted budget (`CPULimitExceeded` under load): such a 429 says nothing about
        the refill rate, so it is not a wave.
        """
        lane = self._lane(service)
        with lane.lock:
            if retry_after is not None:
                now = self._clock()
                if budget and now >= lane.gate:  # the gate was open: a new wave
                    self._new_wave(service, lane, now)
                lane.gate = max(lane.gate, now + retry_after)
                return
            if epoch is None or epoch == lane.epoch:
                lane.interval = min(self.max_interval, max(lane.interval * 2, self.min_interval))
                lane.epoch += 1
            lane.gate = max(lane.gate, self._clock() + lane.interval)

    def _new_wave(self, service: str, lane: _Lane, now: float) -> None:
        """Graph's bucket is empty again: what it accepted since the last wave is its refill."""
        if lane.wave_at is not None and now - lane.wave_at > 0 and lane.accepted > 0:
            lane.rate = _RATE_BACKOFF * lane.accepted / (now - lane.wave_at)
            lane.tokens = min(lane.tokens, 0.0)  # Graph's bucket is empty, or in debt
            lane.stamp = now
            if self._memory is not None:
                self._memory.learned(lane)
        log.debug("%s: 429 wave at %.3f, %.0f RU since the last one, rate %s RU/s", service,
                  now, lane.accepted, None if lane.rate is None else round(lane.rate, 1))
        lane.wave_at = now
        lane.accepted = 0.0

    def budget_rate(self, service: str) -> float | None:
        """The learned refill rate of `service` in RU/s (None before two waves)."""
        return self._lane(service).rate

    def answered(self, service: str, percentage: float | None, epoch: int) -> None:
        """A non-429 answer: slow down while Graph says it refuses traffic, else speed up."""
        lane = self._lane(service)
        with lane.lock:
            if percentage is not None and percentage > PRESSURE_THRESHOLD:
                if epoch == lane.epoch:
                    grown = max(lane.interval * (0.3 + percentage), self.min_interval / 10)
                    lane.interval = min(self.max_interval, grown)
                    lane.epoch += 1
            elif lane.interval:
                lane.interval *= 0.8
                if lane.interval < self.min_interval / 20:
                    lane.interval = 0.0

    def interval(self, service: str) -> float:
        """Current gap between request starts on `service` (0 = full speed)."""
        return self._lane(service).interval
