"""Recovery history: the vocabulary, the record shapes and the contract both backends keep.

Job statuses and per-object actions are Microsoft's own, from the native Entra recovery API
(`microsoft.graph.entraRecoveryServices`, beta), so a history read here and one read from
Graph speak the same words:

- recoveryStatus (recoveryJobBase.status): `initialized`, `running`, `successful`, `failed`,
  `abandoned`, plus the evolvable `calculating`, `loadingData`. There is no
  `partiallySuccessful`. Graph calls a job with some failed objects `successful` and lists
  them through `getFailedChanges`; ours is `failed` (with `totalFailedChanges` and the
  failures in its results), so a runbook that branches on the status never goes on after a
  partial recovery as if it were whole.
  https://learn.microsoft.com/en-us/graph/api/resources/entrarecoveryservices-recoveryjobbase?view=graph-rest-beta
- recoveryAction (recoveryChangeObjectBase.recoveryAction): `softDelete`, `update`,
  `restore`. We add `create` (a hard-deleted object made again) and `none`.
  https://learn.microsoft.com/en-us/graph/api/resources/entrarecoveryservices-recoverychangeobjectbase?view=graph-rest-beta

Outcomes are ours: `applied`, `skipped`, `failed`, and `planned` for a dry run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import orjson

from entra_backup.errors import JobNotFoundError
from entra_backup.ids import DEFAULT_KEEP_DAYS as DEFAULT_KEEP_DAYS
from entra_backup.ids import validate_tenant_id
from entra_backup.types import Json

JOB_STATUSES: Final = ("initialized", "loadingData", "calculating", "running",
                       "successful", "failed", "abandoned")
FINAL_STATUSES: Final = frozenset({"successful", "failed", "abandoned"})
JOB_TYPES: Final = ("recovery", "diffReport")
ACTIONS: Final = ("update", "softDelete", "restore", "create", "none")
OUTCOMES: Final = ("applied", "skipped", "failed", "planned")

# Azure Table caps an entity at 1 MiB counted in UTF-16. A UTF-8 byte count is never below the
# UTF-16 unit count, so two states at MAX_STATE_BYTES fit one entity with room to spare. A
# bigger state is dropped (None) and named in `truncated`: a cut JSON text would not parse. Both
# backends apply the same caps so a history reads the same wherever it was kept.
MAX_STATE_BYTES: Final = 240_000
MAX_DETAIL_CHARS: Final = 8_000
MAX_JOB_BYTES: Final = 400_000
_MAX_STEP: Final = 10**10 - 1  # RowKey is the step in ten digits
_RESULT_KEYS: Final = frozenset({"step", "kind", "id", "action", "outcome", "detail", "at",
                                 "wave", "before", "after", "truncated"})
_FIXED_JOB_KEYS: Final = ("jobId", "tenantId", "jobType", "createdAt")
_JSON_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def validate_job_id(job_id: str) -> str:
    """Return `job_id` if it is a safe token: a folder name and a Table key alike."""
    if (not isinstance(job_id, str) or not 1 <= len(job_id) <= 128 or job_id[0] in "._-"
            or not all(c.isascii() and (c.isalnum() or c in "._-") for c in job_id)):
        raise ValueError(f"bad job id {job_id!r}: use letters, digits, '.', '_' and '-'")
    return job_id


def parse_time(text: Any, what: str) -> datetime:
    """Return the aware instant an ISO 8601 text names; ValueError if it is naive or malformed."""
    try:
        when = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or when.year < 2000:
        raise ValueError(f"bad {what} {text!r}: expected an ISO 8601 time with a UTC offset")
    return when


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _millis(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(milliseconds=1)


def inverted_millis(millis: int) -> str:
    """Thirteen digits that sort later instants first (until the year 2286)."""
    return f"{10**13 - 1 - millis:013d}"


def list_key(job: Mapping[str, Any]) -> str:
    """The order of `list_jobs`: newest `createdAt` first, then job id; the Table RowKey too."""
    return f"{inverted_millis(_millis(parse_time(job['createdAt'], 'createdAt')))}_{job['jobId']}"


def purge_cutoff(now: datetime, keep_days: int) -> int:
    """Milliseconds since 1970 before which a job's `createdAt` makes it purgeable."""
    if keep_days < 1 or now.tzinfo is None:
        raise ValueError("purge needs keep_days >= 1 and an aware `now`")
    return _millis(now - timedelta(days=keep_days))


def is_expired(job: Mapping[str, Any], cutoff_ms: int) -> bool:
    return _millis(parse_time(job["createdAt"], "createdAt")) < cutoff_ms


def dumps(value: Any, what: str) -> bytes:
    """Serialize JSON-able data; ValueError for datetimes, dataclasses and other non-JSON."""
    try:
        return orjson.dumps(value, option=_JSON_OPTIONS)
    except TypeError as exc:
        raise ValueError(f"{what} is not JSON-able: {exc}") from None


def checked_job(job: Mapping[str, Any]) -> tuple[Json, bytes]:
    """Validate a job dict; return it (updatedAt defaulted to createdAt) and its JSON."""
    if not isinstance(job, Mapping):
        raise ValueError("a job is a JSON object")
    missing = [key for key in (*_FIXED_JOB_KEYS, "status") if key not in job]
    if missing:
        raise ValueError(f"job lacks {', '.join(missing)}")
    validate_job_id(job["jobId"])
    validate_tenant_id(job["tenantId"])
    if job["jobType"] not in JOB_TYPES:
        raise ValueError(f"bad jobType {job['jobType']!r}: one of {', '.join(JOB_TYPES)}")
    if job["status"] not in JOB_STATUSES:
        raise ValueError(f"bad status {job['status']!r}: one of {', '.join(JOB_STATUSES)}")
    parse_time(job["createdAt"], "createdAt")
    checked = {**job, "updatedAt": job.get("updatedAt") or job["createdAt"]}
    parse_time(checked["updatedAt"], "updatedAt")
    data = dumps(checked, "job")
    if len(data) > MAX_JOB_BYTES:
        raise ValueError(f"job {job['jobId']} is {len(data)} bytes of JSON, over "
                         f"{MAX_JOB_BYTES}: keep per-object data in the results")
    return checked, data


def merged_job(old: Json, changes: Mapping[str, Any]) -> tuple[Json, bytes]:
    """`old` with the top-level `changes` and a new updatedAt (unless `changes` sets one)."""
    for key in _FIXED_JOB_KEYS:
        if key in changes and changes[key] != old[key]:
            raise ValueError(f"a job's {key} never changes")
    return checked_job({**old, **changes, "updatedAt": changes.get("updatedAt") or iso_now()})


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    """One write of a recovery (or, in a dry run, one planned write); `step` is its key."""

    step: int
    kind: str
    id: str
    action: str
    outcome: str
    at: str
    wave: int
    detail: str | None = None
    before: Json | None = None
    after: Json | None = None
    truncated: tuple[str, ...] = ()  # fields dropped or cut to fit Table storage

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecoveryResult:
        """Validate a result dict (the shape `iter_results` yields); ValueError if malformed."""
        if not isinstance(data, Mapping) or not _RESULT_KEYS.issuperset(data):
            extra = sorted(set(data) - _RESULT_KEYS) if isinstance(data, Mapping) else data
            raise ValueError(f"bad result: unknown keys {extra}")
        step, wave = _count(data, "step", _MAX_STEP), _count(data, "wave", 2**31 - 1)
        for name, limit in (("kind", 128), ("id", 1024)):
            value = data.get(name)
            if not isinstance(value, str) or not 0 < len(value) <= limit:
                raise ValueError(f"bad result {name} {value!r}: a text of 1..{limit} characters")
        if data.get("action") not in ACTIONS:
            raise ValueError(f"bad action {data.get('action')!r}: one of {', '.join(ACTIONS)}")
        if data.get("outcome") not in OUTCOMES:
            raise ValueError(f"bad outcome {data.get('outcome')!r}: one of {', '.join(OUTCOMES)}")
        parse_time(data.get("at"), "result time")
        detail = data.get("detail")
        if detail is not None and not isinstance(detail, str):
            raise ValueError("a result's detail is text or None")
        for name in ("before", "after"):
            if data.get(name) is not None and not isinstance(data[name], dict):
                raise ValueError(f"a result's {name} is a JSON object or None")
        return cls(step=step, kind=data["kind"], id=data["id"], action=data["action"],
                   outcome=data["outcome"], at=data["at"], wave=wave, detail=detail,
                   before=data.get("before"), after=data.get("after"),
                   truncated=tuple(data.get("truncated") or ()))

    def to_json(self) -> Json:
        """The result as a dict; `step` first (the folder store reads it from the line start)."""
        return {"step": self.step, "kind": self.kind, "id": self.id, "action": self.action,
                "outcome": self.outcome, "detail": self.detail, "at": self.at, "wave": self.wave,
                "before": self.before, "after": self.after, "truncated": list(self.truncated)}


def _count(data: Mapping[str, Any], name: str, top: int) -> int:
    number = data.get(name)
    if type(number) is not int or not 0 <= number <= top:
        raise ValueError(f"bad result {name} {number!r}: an integer 0..{top}")
    return number


class StoredResult(NamedTuple):
    """A result made to fit, with its states already serialized (None when absent)."""

    result: RecoveryResult
    before: bytes | None
    after: bytes | None


def fitted(result: RecoveryResult) -> StoredResult:
    """Apply the size caps: drop an oversized state, cut an overlong detail; note either."""
    truncated = list(result.truncated)
    states: list[bytes | None] = []
    for name in ("before", "after"):
        value = getattr(result, name)
        data = None if value is None else dumps(value, f"result {result.step} {name}")
        if data is not None and len(data) > MAX_STATE_BYTES:
            data = None
            truncated.append(name)
        states.append(data)
    detail = result.detail
    if detail is not None and len(detail) > MAX_DETAIL_CHARS:
        detail = detail[:MAX_DETAIL_CHARS - 1] + "…"
        truncated.append("detail")
    if truncated == list(result.truncated):
        return StoredResult(result, *states)
    kept = RecoveryResult(
        step=result.step, kind=result.kind, id=result.id, action=result.action,
        outcome=result.outcome, at=result.at, wave=result.wave, detail=detail,
        before=None if states[0] is None else result.before,
        after=None if states[1] is None else result.after,
        truncated=tuple(dict.fromkeys(truncated)))
    return StoredResult(kept, *states)


class JobStore(ABC):
    """Where recovery history lives: jobs (one summary each) and their per-object results.

    Both backends keep the same promises: `list_jobs` newest first, results streamed in step
    order, re-recording a step replaces it (a retried wave), unknown jobs raise
    JobNotFoundError, and `purge` removes a job's results before the job itself so a crash
    part way never leaves results without their job.
    """

    location: str  # human-readable, never containing a key or SAS

    def __init__(self) -> None:
        self._known: set[tuple[str, str]] = set()  # jobs seen to exist: one read per job

    @abstractmethod
    def create_job(self, job: Json) -> None:
        """Store a new job; ValueError if the tenant already has a job with that id."""

    @abstractmethod
    def update_job(self, tenant_id: str, job_id: str, changes: Json) -> Json:
        """Merge top-level `changes` into the job, set updatedAt, return the new job."""

    @abstractmethod
    def get_job(self, tenant_id: str, job_id: str) -> Json:
        """Return the job; JobNotFoundError if there is none."""

    @abstractmethod
    def list_jobs(self, tenant_id: str, *, job_type: str | None = None) -> list[Json]:
        """The tenant's jobs, newest first, optionally of one jobType; [] if none."""

    @abstractmethod
    def purge(self, *, now: datetime, keep_days: int = DEFAULT_KEEP_DAYS) -> int:
        """Remove jobs created more than keep_days before `now`, results first; return count."""

    @abstractmethod
    def _write_results(self, tenant_id: str, job_id: str, rows: list[StoredResult]) -> None:
        """Store rows (distinct steps, ascending), replacing any with the same step."""

    @abstractmethod
    def _read_results(self, tenant_id: str, job_id: str) -> Iterator[Json]:
        """Yield the job's results in step order, one page or segment line at a time."""

    def record_results(self, tenant_id: str, job_id: str, results: Sequence[Json]) -> None:
        """Store results keyed by (job, step); a step given twice keeps the last one."""
        self._require_job(tenant_id, job_id)
        latest = {row.step: row for row in map(RecoveryResult.from_json, results)}
        if latest:
            self._write_results(tenant_id, job_id,
                                [fitted(latest[step]) for step in sorted(latest)])

    def iter_results(self, tenant_id: str, job_id: str) -> Iterator[Json]:
        """The job's results in step order, streamed; JobNotFoundError at once if no job."""
        self._require_job(tenant_id, job_id)
        return self._read_results(tenant_id, job_id)

    def _require_job(self, tenant_id: str, job_id: str) -> None:
        key = (validate_tenant_id(tenant_id), validate_job_id(job_id))
        if key not in self._known:
            self.get_job(*key)
            self._known.add(key)

    def _forget(self, tenant_id: str, job_id: str) -> None:
        self._known.discard((tenant_id, job_id))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"


def not_found(tenant_id: str, job_id: str, location: str) -> JobNotFoundError:
    return JobNotFoundError(f"no job {job_id} for tenant {tenant_id} in {location}",
                            tenant_id=tenant_id, job_id=job_id)
