"""Conditional Access safety: a recovery must never leave a break-glass account locked out.

A plan is refused, before any write, when a policy it writes would end up enabled, blocking,
and covering a configured break-glass account without excluding it - directly, through "All"
users, or through a group the snapshot shows the account in.
"""

from __future__ import annotations

from typing import Any

from entra_backup.diff.live import snapshot_records
from entra_backup.errors import RecoveryRefusedError
from entra_backup.kinds import KINDS_BY_NAME
from entra_backup.store.snapshots import SnapshotStore
from entra_backup.types import Json


def _list(policy: Json, *path: str) -> list[str]:
    value: Any = policy
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return [v for v in value or [] if isinstance(v, str)] if isinstance(value, list) else []


def locks_out(policy: Json, account: str, groups: set[str]) -> bool:
    """Whether an enforced blocking policy covers `account` without excluding it."""
    if policy.get("state") != "enabled":
        return False
    if "block" not in _list(policy, "grantControls", "builtInControls"):
        return False
    users = ("conditions", "users")
    included = (account in _list(policy, *users, "includeUsers")
                or "All" in _list(policy, *users, "includeUsers")
                or bool(groups & set(_list(policy, *users, "includeGroups"))))
    excluded = (account in _list(policy, *users, "excludeUsers")
                or bool(groups & set(_list(policy, *users, "excludeGroups"))))
    return included and not excluded


class BreakGlassCheck:
    """Collects the CA states a plan would leave and refuses the plan if one locks out."""

    def __init__(self, accounts: list[str], store: SnapshotStore, tenant_id: str,
                 snapshot_id: str) -> None:
        self.accounts = [a for a in accounts if a]
        self._store, self._tenant, self._snapshot = store, tenant_id, snapshot_id
        self._groups: dict[str, set[str]] | None = None
        self.violations: list[str] = []

    def _memberships(self) -> dict[str, set[str]]:
        """Groups each account belongs to, per the snapshot (read once, only if needed)."""
        if self._groups is None:
            wanted = set(self.accounts)
            self._groups = {a: set() for a in self.accounts}
            for record in snapshot_records(self._store, self._tenant, self._snapshot,
                                           KINDS_BY_NAME["groups"]):
                for member in (record.get("links") or {}).get("members") or []:
                    if member in wanted:
                        self._groups[member].add(record["id"])
        return self._groups

    def consider(self, step: Json) -> None:
        """A CA step: what state will the policy be in once the step is applied?"""
        if not self.accounts:
            return
        policy = step.get("after") if step["action"] in ("restore", "create") else None
        if policy is None:
            target = step.get("target") or {}
            policy = dict(target.get("object") or {})
            for op in step["ops"]:
                if op["op"] == "patch":
                    policy.update(op["body"])
        if not policy:
            return
        for account in self.accounts:
            if locks_out(policy, account, self._memberships()[account]):
                name = policy.get("displayName") or step["id"]
                self.violations.append(f"policy {name!r} would block break-glass account "
                                       f"{account}")

    def verdict(self) -> None:
        if self.violations:
            more = len(self.violations) - 1
            raise RecoveryRefusedError(
                "refused: " + self.violations[0] + (f" (and {more} more)" if more else "")
                + "; exclude the account or recover with --report-only-ca")
