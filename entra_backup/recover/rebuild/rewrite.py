"""What changes when an object moves to another tenant, before any id is mapped: domain names
(the `--domain-map`), the old tenant id inside URIs, and the marker that lets a re-run find
an object it already created. Pure functions; no I/O.

The marker: every rebuilt object keeps its old id in a well-known place, so a run that
crashed before its id map was stored finds its objects again and creates nothing twice.
Users are found by their (rewritten, unique) userPrincipalName, service principals by appId
and named locations by name; the rest carry `entra-backup-rebuild:{old id}` in a free-text
property their kind declares (`Kind.extra["rebuildMarker"]`: `description` or `tags`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from entra_backup.kinds import Kind
from entra_backup.types import Json

MARKER = "entra-backup-rebuild:"
_MARKED = re.compile(r"\s*\[?" + re.escape(MARKER) + r"([^\]\s]+)\]?\s*$")
_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# how a kind's rebuilt objects are found again: a unique property, or the marker's property
UNIQUE_KEYS = {"users": "userPrincipalName", "servicePrincipals": "appId",
               "namedLocations": "displayName"}


@dataclass(frozen=True)
class DomainMap:
    """`old.example=new.example` pairs (lower case), applied to addresses and URIs."""

    pairs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, texts: list[str]) -> DomainMap:
        pairs: dict[str, str] = {}
        for text in texts:
            old, sep, new = text.partition("=")
            old, new = old.strip().lower(), new.strip().lower()
            if not sep or not _DOMAIN.match(old) or not _DOMAIN.match(new):
                raise ValueError(f"bad --domain-map {text!r}: give old.example=new.example")
            if pairs.get(old, new) != new:
                raise ValueError(f"--domain-map maps {old} twice")
            pairs[old] = new
        return cls(pairs)

    def domain(self, name: str) -> str:
        return self.pairs.get(name.lower(), name)

    def address(self, value: str) -> str:
        """`local@old` -> `local@new` when old is mapped; anything else unchanged."""
        local, sep, domain = value.rpartition("@")
        if not sep or domain.lower() not in self.pairs:
            return value
        return f"{local}@{self.pairs[domain.lower()]}"

    def text(self, value: str) -> str:
        """Every mapped host name inside a string (URIs, redirect URLs), sub-domains too."""
        for old in sorted(self.pairs, key=len, reverse=True):
            value = re.sub(r"(?<![\w-])" + re.escape(old) + r"(?![\w-])", self.pairs[old],
                           value, flags=re.IGNORECASE)
        return value


@dataclass(frozen=True)
class Move:
    """One source tenant to one target tenant."""

    source_tenant: str
    target_tenant: str
    domains: DomainMap

    def strings(self, value: Any) -> Any:
        """Mapped domains and the old tenant id replaced in every string of a JSON value."""
        if isinstance(value, dict):
            return {k: self.strings(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.strings(v) for v in value]
        if isinstance(value, str):
            text = self.domains.text(value)
            return re.sub(re.escape(self.source_tenant), self.target_tenant, text,
                          flags=re.IGNORECASE)
        return value

    def user(self, obj: Json) -> Json:
        """A user's sign-in name and addresses in the mapped domains; nothing else moves."""
        out = dict(obj)
        for name in ("userPrincipalName", "mail"):
            if isinstance(out.get(name), str):
                out[name] = self.domains.address(out[name])
        if isinstance(out.get("otherMails"), list):
            out["otherMails"] = [self.domains.address(v) if isinstance(v, str) else v
                                 for v in out["otherMails"]]
        return out

    def moved(self, kind: Kind, obj: Json) -> Json:
        """The object as it reads in the new tenant before ids are mapped."""
        if kind.name in ("users", "agentUsers"):
            return self.user(obj)
        if kind.name in ("applications", "servicePrincipals", "organization"):
            return {k: v if k in ("id", "appId") else self.strings(v) for k, v in obj.items()}
        return obj


def marker_property(kind: Kind) -> str | None:
    return kind.extra.get("rebuildMarker")


def marked(kind: Kind, obj: Json, old_id: str) -> Json:
    """The object with its old id in the kind's marker property."""
    prop = marker_property(kind)
    if prop is None:
        return obj
    out = dict(obj)
    tag = MARKER + old_id
    if prop == "tags":
        out["tags"] = [*(t for t in out.get("tags") or [] if not str(t).startswith(MARKER)),
                       tag]
    else:
        text = _MARKED.sub("", str(out.get(prop) or ""))
        out[prop] = f"{text} [{tag}]" if text else f"[{tag}]"
    return out


def marker_of(kind: Kind, obj: Json) -> str | None:
    """The old id a rebuilt object carries, if any."""
    prop = marker_property(kind)
    value = obj.get(prop) if prop else None
    if prop == "tags" and isinstance(value, list):
        for tag in value:
            if isinstance(tag, str) and tag.startswith(MARKER):
                return tag[len(MARKER):]
    elif isinstance(value, str):
        found = _MARKED.search(value)
        return found.group(1) if found else None
    return None


def unmarked(kind: Kind, obj: Json) -> Json:
    """The object without the marker, as the snapshot had it (for the verification diff)."""
    prop = marker_property(kind)
    if prop is None or prop not in obj:
        return obj
    out = dict(obj)
    if prop == "tags":
        out["tags"] = [t for t in out.get("tags") or [] if not str(t).startswith(MARKER)]
    elif isinstance(out[prop], str):
        out[prop] = _MARKED.sub("", out[prop]) or None
    return out


def upn_domain(obj: Json) -> str | None:
    upn = obj.get("userPrincipalName")
    return upn.rpartition("@")[2].lower() if isinstance(upn, str) and "@" in upn else None
