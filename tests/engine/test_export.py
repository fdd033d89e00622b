"""Report exporters and the published schema: every format round-trips, the html page is
safe and self-contained, and a large report streams in bounded memory."""

from __future__ import annotations

import base64
import copy
import csv
import hashlib
import io
import json
import re
import shutil
import subprocess
import tracemalloc
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from entra_backup.diff.export import CSV_COLUMNS, EXPORTERS, export, write_csv
from entra_backup.diff.export_html import _JS, MAX_HTML_ENTRIES, write_html
from entra_backup.diff.report_schema import (
    ENTRY_KEYS,
    REASON_CODES,
    SCHEMA_DIR,
    known_kinds,
    load_schema,
    validate_entry,
    validate_report,
)
from entra_backup.kinds import KINDS_BY_NAME

EVIL = "<script>alert(1)</script>"
AUDIT = {"when": "2026-11-26T10:00:00Z", "activity": "Update user", "operationType": "Update",
         "by": {"type": "app", "id": "sp-1", "displayName": "Provisioning",
                "userPrincipalName": None},
         "auditId": "Directory_1", "result": "success"}


def _entry(object_id: str, change: str = "updated", kind: str = "users", **extra: Any) -> dict:
    entry: dict[str, Any] = {
        "kind": kind, "id": object_id, "displayName": f"Name {object_id}", "change": change,
        "deletion": "soft" if change == "deleted" else None, "properties": [], "links": [],
        "recoverable": True, "reasons": [], "sourceOfAuthority": "cloud", "changedBy": [],
    }
    entry.update(extra)
    return entry


def _entries() -> list[dict]:
    return [
        _entry("u1", displayName="Ada Lovelace", changedBy=[AUDIT], properties=[
            {"path": "jobTitle", "before": "Engineer", "after": "Manager"},
            {"path": "accountEnabled", "before": True, "after": False}]),
        _entry("g1", kind="groups", links=[
            {"link": "members", "targetKind": "users", "added": ["u1"], "removed": ["u2"]}]),
        _entry("sp1", kind="servicePrincipals", recoverable=False,
               reasons=["secret_cannot_be_restored"], links=[
                   {"link": "appRoleAssignedTo", "targetKind": None, "removed": [],
                    "added": [{"id": "a1", "appRoleId": "r1", "principalId": "u1",
                               "principalType": "User"}]}]),
        _entry("ca1", kind="conditionalAccessPolicies", displayName=None, properties=[
            {"path": "conditions.users.excludeUsers", "before": [], "after": ["u9"]}], links=[
            {"link": "conditions.users.excludeUsers", "targetKind": "users", "reference": True,
             "added": ["u9"], "removed": []}]),
        _entry("u2", change="created", displayName=EVIL),
        _entry("u3", change="deleted", deletion="hard", recoverable=False,
               reasons=["hard_deleted"], sourceOfAuthority="onPremises"),
        _entry("g2", change="created", kind="groups", links=[
            {"link": "owners", "targetKind": "users", "added": ["u1"], "removed": []}]),
    ]


def _header(entries: list[dict] | None = None, total: int | None = None) -> dict:
    entries = _entries() if entries is None else entries
    by_kind: dict[str, dict[str, int]] = {}
    by_change = dict.fromkeys(("created", "updated", "deleted"), 0)
    for entry in entries:
        by_kind.setdefault(entry["kind"], dict.fromkeys(by_change, 0))[entry["change"]] += 1
        by_change[entry["change"]] += 1
    return {
        "reportId": "20261126T173000.123Z", "snapshotId": "20261125T020000.000Z",
        "tenantId": "contoso.onmicrosoft.com", "against": "live",
        "createdAt": "2026-11-26T17:30:00Z",
        "filters": {"kinds": [], "objectIds": [], "changes": []},
        "summary": {
            "total": len(entries) if total is None else total, "byKind": by_kind,
            "byChange": by_change,
            "softDeleted": sum(e["deletion"] == "soft" for e in entries),
            "hardDeleted": sum(e["deletion"] == "hard" for e in entries),
            "recoverable": sum(e["recoverable"] for e in entries),
            "notRecoverable": sum(not e["recoverable"] for e in entries),
            "durationSeconds": 4.2, "livePath": {k: "delta" for k in by_kind},
        },
    }


def _export(fmt: str, entries: list[dict] | None = None) -> bytes:
    entries = _entries() if entries is None else entries
    out = io.BytesIO()
    export(fmt, _header(entries), iter(entries), out)
    return out.getvalue()


# ---- schema ------------------------------------------------------------------------------

def test_schema_files_are_valid_and_name_every_kind() -> None:
    from jsonschema import Draft202012Validator

    for name in ("report-entry.schema.json", "report.schema.json"):
        Draft202012Validator.check_schema(load_schema(name))
    assert known_kinds() == list(KINDS_BY_NAME)
    assert list(load_schema("report-entry.schema.json")["required"]) == list(ENTRY_KEYS)
    for entry in _entries():
        validate_entry(entry)


@pytest.mark.parametrize(("change", "message"), [
    ({"change": "modified"}, "$.change"),
    ({"surprise": 1}, "'surprise' was unexpected"),
    ({"kind": "printers"}, "$.kind"),
    ({"deletion": "soft"}, "$.deletion"),  # an updated object has no deletion
    ({"change": "deleted", "deletion": None}, "$.deletion"),
    ({"change": "created", "properties": [{"path": "a", "before": 1, "after": 2}]},
     "$.properties"),
    ({"properties": [{"path": "a", "before": 1}]}, "'after' is a required property"),
    ({"links": [{"link": "members", "targetKind": None, "added": [], "removed": [],
                 "extra": True}]}, "'extra' was unexpected"),
    ({"changedBy": [{**AUDIT, "ip": "10.0.0.1"}]}, "'ip' was unexpected"),
    ({"sourceOfAuthority": "ldap"}, "$.sourceOfAuthority"),
    ({"reasons": ["Not A Code"]}, "$.reasons[0]"),
])
def test_schema_is_strict(change: dict, message: str) -> None:
    entry = {**_entry("x"), **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_entry(entry)
    entry.pop("displayName")
    with pytest.raises(ValueError):
        validate_entry(entry)


def test_report_schema_checks_header_and_entries_through_the_relative_ref() -> None:
    doc = {**_header(), "entries": _entries()}
    validate_report(doc)
    bad = copy.deepcopy(doc)
    bad["entries"][3]["change"] = "renamed"
    with pytest.raises(ValueError, match=re.escape("$.entries[3].change")):
        validate_report(bad)
    with pytest.raises(ValueError, match="livePath"):
        validate_report({**doc, "summary": {**doc["summary"], "livePath": {"users": "guess"}}})


# ---- json and ndjson ---------------------------------------------------------------------

def test_json_is_one_schema_valid_document_in_published_key_order() -> None:
    doc = json.loads(_export("json"))
    validate_report(doc)
    assert list(doc) == ["schemaVersion", "reportId", "snapshotId", "tenantId", "against",
                         "createdAt", "filters", "summary", "entries"]
    assert doc["entries"] == _entries()
    assert all(list(entry) == list(ENTRY_KEYS) for entry in doc["entries"])
    empty = json.loads(_export("json", []))
    validate_report(empty)
    assert empty["entries"] == []


def test_ndjson_lines_are_exactly_schema_valid_entries() -> None:
    reordered = [dict(reversed(list(e.items()))) for e in _entries()]
    lines = _export("ndjson", reordered).decode().splitlines()
    assert len(lines) == len(reordered)
    for line, entry in zip(lines, _entries(), strict=True):
        parsed = json.loads(line)
        validate_entry(parsed)
        assert parsed == entry and list(parsed) == list(ENTRY_KEYS)


def test_malformed_header_fails_before_anything_is_written() -> None:
    for fmt in EXPORTERS:
        out = io.BytesIO()
        with pytest.raises(ValueError, match="tenantId"):
            export(fmt, {**_header(), "tenantId": "no spaces allowed"}, iter(_entries()), out)
        assert out.getvalue() == b""
    with pytest.raises(ValueError, match="unknown export format 'xml'"):
        export("xml", _header(), iter([]), io.BytesIO())


# ---- csv ---------------------------------------------------------------------------------

def _csv_rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 names right only with a BOM
    assert b"\r\n" in data
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_has_one_row_per_property_and_link_change() -> None:
    rows = _csv_rows(_export("csv"))
    assert tuple(rows[0]) == CSV_COLUMNS
    shape = [(r["id"], r["itemType"], r["path"]) for r in rows]
    assert shape == [
        ("u1", "property", "jobTitle"), ("u1", "property", "accountEnabled"),
        ("g1", "link", "members"),
        ("sp1", "link", "appRoleAssignedTo"),
        ("ca1", "property", "conditions.users.excludeUsers"),
        ("ca1", "link", "conditions.users.excludeUsers"),
        ("u2", "object", ""),
        ("u3", "object", ""),
        ("g2", "object", ""), ("g2", "link", "owners"),
    ]
    first, enabled, members, grant = rows[0], rows[1], rows[2], rows[3]
    assert (first["before"], first["after"]) == ("Engineer", "Manager")  # plain strings
    assert (enabled["before"], enabled["after"]) == ("true", "false")  # JSON otherwise
    assert first["changedBy"] == "2026-11-26T10:00:00Z app:Provisioning Update user"
    assert first["reportId"] == "20261126T173000.123Z" and first["recoverable"] == "true"
    assert json.loads(members["added"]) == ["u1"] and json.loads(members["removed"]) == ["u2"]
    assert json.loads(grant["added"])[0]["appRoleId"] == "r1"
    assert grant["reasons"] == "secret_cannot_be_restored" and grant["recoverable"] == "false"
    deleted = rows[7]
    assert (deleted["deletion"], deleted["sourceOfAuthority"]) == ("hard", "onPremises")
    assert rows[6]["displayName"] == EVIL  # csv is data, not markup


def test_csv_neutralises_formula_injection() -> None:
    entry = _entry("x", displayName="=HYPERLINK(\"evil\",\"click\")", reasons=["a", "b"],
                   properties=[{"path": "city", "before": "+44 20", "after": "@SUM(A1)"},
                               {"path": "n", "before": -5, "after": "\tx"}])
    out = io.BytesIO()
    write_csv(_header([entry]), iter([entry]), out)
    rows = _csv_rows(out.getvalue())
    assert rows[0]["displayName"].startswith("'=HYPERLINK")
    assert (rows[0]["before"], rows[0]["after"]) == ("'+44 20", "'@SUM(A1)")
    assert (rows[1]["before"], rows[1]["after"]) == ("'-5", "'\tx")
    assert rows[0]["reasons"] == "a;b"
    for row in rows:
        assert not any(cell[:1] in ("=", "+", "-", "@") for cell in row.values())


# ---- html --------------------------------------------------------------------------------

VOID = {"meta", "input", "br", "link", "img", "hr", "wbr", "col", "source"}


class _Checker(HTMLParser):
    """Collects what a browser would fetch and insists every non-void tag is closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.urls: list[str] = []
        self.scripts: dict[str, str] = {}
        self.meta: dict[str, str] = {}
        self._script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "action", "srcset")]
        if tag == "meta" and values.get("http-equiv"):
            self.meta[str(values["http-equiv"])] = str(values.get("content"))
        if tag == "script":
            self._script = str(values.get("id") or "code")
            self.scripts[self._script] = ""
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts[self._script] += data


def _page(entries: list[dict] | None = None, **kwargs: Any) -> tuple[str, _Checker]:
    entries = _entries() if entries is None else entries
    out = io.BytesIO()
    header = kwargs.pop("header", None) or _header(entries)
    write_html(header, iter(entries), out, **kwargs)
    page = out.getvalue().decode()
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    return page, checker


def test_html_is_escaped_self_contained_and_well_formed() -> None:
    page, checker = _page()
    assert "<script>alert" not in page
    assert "\\u003cscript>alert(1)\\u003c/script>" in page  # the name is there, as data
    assert "http://" not in page and "https://" not in page
    assert all(not re.match(r"^(https?:)?//", url) for url in checker.urls)
    assert set(checker.scripts) == {"report-data", "report-meta", "code"}
    assert "<title>Entra difference report – contoso.onmicrosoft.com" in page
    # counts are rendered server-side, visible without JavaScript
    assert ('<th scope="row">users</th><td class="num">1</td><td class="num">1</td>'
            '<td class="num">1</td><td class="num">3</td><td>delta query</td>') in page
    assert "<noscript>" in page
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert forbidden not in _JS


def test_html_csp_allows_exactly_the_page_own_style_and_script() -> None:
    page, checker = _page()
    csp = checker.meta["Content-Security-Policy"]
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    for name, text in (("script-src", checker.scripts["code"]), ("style-src", style.group(1))):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"{name} 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp


def test_html_embedded_json_parses_and_cannot_close_its_script() -> None:
    hostile = [*_entries(), _entry("z", displayName="</script><!--<script>", properties=[
        {"path": "notes", "before": "a</SCRIPT>b", "after": "\u2028<!-- x"}])]
    _, checker = _page(hostile, header=_header(hostile))
    block = checker.scripts["report-data"]
    assert "</" not in block and "<!--" not in block and "<" not in block
    assert json.loads(block.replace("<\\/", "</")) == hostile
    meta = json.loads(checker.scripts["report-meta"])
    assert meta["reasons"] == REASON_CODES
    assert (meta["shown"], meta["truncated"]) == (len(hostile), False)


def test_html_embeds_at_most_the_limit_and_says_so() -> None:
    assert MAX_HTML_ENTRIES == 20_000
    many = [_entry(f"u{i:03d}") for i in range(12)]
    consumed: list[int] = []

    def feed() -> Iterator[dict]:
        for i, entry in enumerate(many):
            consumed.append(i)
            yield entry

    out = io.BytesIO()
    write_html(_header(many), feed(), out, limit=5)
    page = out.getvalue().decode()
    checker = _Checker()
    checker.feed(page)
    assert len(json.loads(checker.scripts["report-data"])) == 5
    assert json.loads(checker.scripts["report-meta"])["truncated"] is True
    assert "embeds the first 5 of 12 entries" in page
    assert len(consumed) == 6  # stopped reading once it knew the page was full


FAKE_DOM = r"""
const fs = require("fs");
const [dataPath, metaPath, scriptPath] = process.argv.slice(2);
class Text { constructor(t) { this.data = t; } get textContent() { return this.data; } }
class Element {
  constructor(tag) {
    this.tagName = tag.toUpperCase(); this.childNodes = []; this.attributes = {};
    this.listeners = {}; this.className = ""; this.hidden = true; this.value = "";
    this.checked = false; this.open = false;
  }
  appendChild(c) {
    if (!(c instanceof Element || c instanceof Text)) throw new Error("not a node: " + c);
    this.childNodes.push(c); return c;
  }
  setAttribute(k, v) { this.attributes[k] = String(v); }
  addEventListener(t, f) { (this.listeners[t] = this.listeners[t] || []).push(f); }
  fire(t) { for (const f of this.listeners[t] || []) f({ type: t, target: this }); }
  set textContent(v) { this.childNodes = v === "" ? [] : [new Text(String(v))]; }
  get textContent() { return this.childNodes.map((c) => c.textContent).join(""); }
  set innerHTML(v) { throw new Error("innerHTML used"); }
  all(tag, out = []) {
    if (this.tagName === tag) out.push(this);
    for (const c of this.childNodes) if (c instanceof Element) c.all(tag, out);
    return out;
  }
}
const ids = {};
global.document = {
  getElementById: (id) => ids[id] || (ids[id] = new Element("div")),
  createElement: (tag) => {
    if (tag.toLowerCase() === "script") throw new Error("script element created");
    return new Element(tag);
  },
  createTextNode: (t) => new Text(String(t)),
};
document.getElementById("report-data").textContent = fs.readFileSync(dataPath, "utf8");
document.getElementById("report-meta").textContent = fs.readFileSync(metaPath, "utf8");
require(scriptPath);
const $ = (id) => document.getElementById(id);
const rows = () => $("entries").all("TBODY").filter((b) => b.className.startsWith("entry"));
const result = { controlsShown: !$("controls").hidden, first: rows().length,
                 moreShown: !$("more").hidden };
$("more").fire("click");
result.afterMore = rows().length;
result.names = rows().map((b) => b.childNodes[0].childNodes[1].textContent);
const details = rows()[0].all("DETAILS")[0];
details.open = true; details.fire("toggle");
result.detailText = details.textContent;
$("f-kind").value = "groups"; $("f-kind").fire("change");
result.groups = rows().length;
$("f-kind").value = ""; $("f-unrecoverable").checked = true; $("f-unrecoverable").fire("change");
result.unrecoverable = rows().length;
$("f-unrecoverable").checked = false;
$("f-text").value = "LOVELACE"; $("f-text").fire("input");
setTimeout(() => {
  result.text = rows().length; result.count = $("match-count").textContent;
  console.log(JSON.stringify(result));
}, 300);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_html_script_renders_and_filters_in_a_fake_dom(tmp_path: Path) -> None:
    """No browser: run the page's own script in node against a minimal DOM that refuses
    innerHTML and script elements, and drive its filters."""
    many = [*_entries(), *(_entry(f"bulk{i:04d}") for i in range(300))]
    _, checker = _page(many, header=_header(many))
    paths = []
    for name, text in (("data.json", checker.scripts["report-data"]),
                       ("meta.json", checker.scripts["report-meta"]),
                       ("page.js", checker.scripts["code"]), ("dom.js", FAKE_DOM)):
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(str(tmp_path / name))
    done = subprocess.run(["node", paths[3], *paths[:3]], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["controlsShown"] and result["moreShown"]
    assert (result["first"], result["afterMore"]) == (250, len(many))
    assert EVIL in result["names"]  # a text node, verbatim: never parsed as markup
    assert "jobTitle" in result["detailText"] and "Manager" in result["detailText"]
    assert "Provisioning" in result["detailText"]
    assert result["groups"] == 2
    assert result["unrecoverable"] == 2
    assert result["text"] == 1 and result["count"].startswith("1 of 307 entries match")


# ---- docs --------------------------------------------------------------------------------

def test_format_doc_covers_reason_codes_and_formats() -> None:
    doc = (SCHEMA_DIR / "report-format.md").read_text(encoding="utf-8")
    for code in REASON_CODES:
        assert f"`{code}`" in doc, code
    for fmt in EXPORTERS:
        assert f"`{fmt}`" in doc, fmt


# ---- streaming ---------------------------------------------------------------------------

class _Sink(io.RawIOBase):
    """Counts what it is given and keeps none of it."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0
        self.lines = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.size += len(chunk)
        self.lines += chunk.count(b"\n")
        return len(chunk)


def _generated(count: int) -> Iterator[dict]:
    for i in range(count):
        object_id = f"{i:08d}-0000-4000-8000-000000000000"
        if i % 3 == 0:
            yield _entry(object_id, properties=[
                {"path": "jobTitle", "before": f"Role {i}", "after": f"Role {i + 1}"}],
                changedBy=[AUDIT])
        elif i % 3 == 1:
            yield _entry(object_id, kind="groups", links=[
                {"link": "members", "targetKind": "users", "added": [object_id],
                 "removed": []}])
        else:
            yield _entry(object_id, change="deleted")


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
def test_large_report_streams_in_bounded_memory(fmt: str) -> None:
    count = 200_000
    sink = _Sink()
    tracemalloc.start()
    try:
        export(fmt, _header([], total=count), _generated(count), sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 30 * 1024 * 1024, f"{fmt}: peak {peak / 1e6:.1f} MB"
    expected_lines = {"ndjson": count, "json": count + 2, "csv": count + 1}[fmt]
    assert sink.lines == expected_lines
    assert sink.size > count * 100
