"""The html export: one self-contained page a person can open offline and filter.

Counts are rendered here, in Python, so they show without JavaScript; entries travel as JSON in
a `<script type="application/json">` block and are rendered by a small vanilla script with
`textContent` only (never markup from data), so a display name of `<script>` stays text. A
Content-Security-Policy with the hashes of our own style and script blocks makes the page
refuse anything else, including network requests, should escaping ever fail.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from html import escape
from typing import IO, Any

import orjson

from entra_backup.diff.export import ChunkWriter, ordered_entry, ordered_header
from entra_backup.diff.report_schema import CHANGES, REASON_CODES, SCHEMA_VERSION, known_kinds
from entra_backup.types import Json

MAX_HTML_ENTRIES = 20_000
_LIVE_PATH = {"delta": "delta query", "full": "full read", "snapshot": "second snapshot"}

_CSS = """
:root{color-scheme:light dark;--fg:#1b1b1b;--bg:#fff;--muted:#636363;--line:#d8d8d8;
--head:#f3f3f3;--created:#1a7f37;--updated:#9a6700;--deleted:#cf222e}
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e6;--bg:#161616;--muted:#a0a0a0;
--line:#363636;--head:#222;--created:#3fb950;--updated:#d29922;--deleted:#f85149}}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);
background:var(--bg);margin:1.5rem}
h1{font-size:1.4rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
h3{font-size:1rem;margin:.75rem 0 .25rem}
.sub{color:var(--muted);margin:0 0 .4rem}
table{border-collapse:collapse}
th,td{border-bottom:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:var(--head)}
.num{text-align:right;font-variant-numeric:tabular-nums}
.notice{border-left:4px solid var(--updated);padding:.4rem .8rem;background:var(--head)}
#controls{display:flex;flex-wrap:wrap;gap:.75rem;align-items:center;margin:.75rem 0}
#controls[hidden],button[hidden]{display:none}
input[type=search]{min-width:18rem}
table.entries{width:100%}
tr.more td{border-bottom:2px solid var(--line);padding-top:0}
tbody.entry tr:first-child td{border-bottom:none}
.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;color:#fff;font-size:.85em}
.badge.created{background:var(--created)}.badge.updated{background:var(--updated)}
.badge.deleted{background:var(--deleted)}
.bad{color:var(--deleted);font-weight:600}
.reason{display:inline-block;font:.8em ui-monospace,monospace;border:1px solid var(--line);
border-radius:.3rem;padding:0 .3rem;margin:.15rem .2rem 0 0;color:var(--fg);font-weight:400}
pre{margin:0;white-space:pre-wrap;word-break:break-word;max-height:24rem;overflow:auto;
font:.85em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
table.detail{width:100%;table-layout:fixed;margin-bottom:.5rem}
table.detail th:first-child{width:22%}
.before{background:rgba(207,34,46,.08)}.after{background:rgba(26,127,55,.08)}
.absent{color:var(--muted);font-style:italic}
ul.ids{margin:0;padding-left:1.1rem}
details>summary{cursor:pointer;color:var(--muted)}
@media print{#controls,#more{display:none}}
"""

_JS = """
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("report-data").textContent);
  const meta = JSON.parse($("report-meta").textContent);
  const PAGE = 250;
  const list = (x) => (Array.isArray(x) ? x : []);
  const plural = (n, word) => n + " " + word + (n === 1 ? "" : "s");

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function add(parent, ...children) {
    for (const child of children) parent.appendChild(child);
    return parent;
  }
  function actor(by) {
    by = by || {};
    const name = by.userPrincipalName || by.displayName || by.id;
    return name ? (by.type || "unknown") + ":" + name : (by.type || "unknown");
  }
  function value(v) {
    if (v === null || v === undefined) return el("span", "absent", "(absent)");
    return el("pre", "", typeof v === "string" ? v : JSON.stringify(v, null, 2));
  }
  function targets(items) {
    const ul = el("ul", "ids");
    for (const item of list(items)) {
      add(ul, add(el("li"), typeof item === "string" ? el("code", "", item) : value(item)));
    }
    return ul;
  }
  function table(cls, heads, rows) {
    const t = el("table", "detail " + cls);
    const tr = el("tr");
    for (const h of heads) add(tr, el("th", "", h));
    add(t, add(el("thead"), tr));
    const body = add(t, el("tbody"));
    for (const cells of rows) {
      const row = el("tr");
      for (const cell of cells) add(row, cell);
      add(body, row);
    }
    return t;
  }
  function td(content, cls) {
    const cell = el("td", cls || "");
    add(cell, typeof content === "string" ? document.createTextNode(content) : content);
    return cell;
  }
  function fill(into, e) {
    const reasons = list(e.reasons);
    if (reasons.length) {
      const ul = el("ul");
      for (const code of reasons) {
        const li = add(el("li"), el("code", "", code));
        li.appendChild(document.createTextNode(" " + (meta.reasons[code] || "")));
        add(ul, li);
      }
      add(into, el("h3", "", "Why"), ul);
    }
    const props = list(e.properties);
    if (props.length) add(into, el("h3", "", "Properties"), table("props",
      ["Property", "Before", "After"],
      props.map((p) => [td(el("code", "", p.path)), td(value(p.before), "before"),
                        td(value(p.after), "after")])));
    const links = list(e.links);
    if (links.length) add(into, el("h3", "", "Links"), table("links",
      ["Link", "Added", "Removed"],
      links.map((l) => [td(l.link + (l.targetKind ? " → " + l.targetKind : "") +
                           (l.reference ? " (referenced)" : "")),
                        td(targets(l.added), "after"), td(targets(l.removed), "before")])));
    const audit = list(e.changedBy);
    if (audit.length) add(into, el("h3", "", "Audit events"), table("audit",
      ["When", "Who", "Activity", "Result"],
      audit.map((a) => [td(a.when || ""), td(actor(a.by)),
        td((a.activity || "") + (a.operationType ? " (" + a.operationType + ")" : "")),
        td((a.result || "") + (a.auditId ? " · " + a.auditId : ""))])));
    if (!props.length && !links.length) {
      add(into, el("p", "absent", "Object " + e.change + "; no property-level changes."));
    }
  }
  function outline(e) {
    const parts = [];
    if (list(e.properties).length) parts.push(plural(list(e.properties).length, "property"));
    if (list(e.links).length) parts.push(plural(list(e.links).length, "link change"));
    if (list(e.changedBy).length) parts.push(plural(list(e.changedBy).length, "audit event"));
    return "Details" + (parts.length ? ": " + parts.join(", ") : "");
  }
  function row(e) {
    const body = el("tbody", "entry " + e.change);
    const ok = el("td", e.recoverable ? "" : "bad", e.recoverable ? "yes" : "no");
    for (const code of list(e.reasons)) {
      const tag = el("span", "reason", code);
      if (meta.reasons[code]) tag.setAttribute("title", meta.reasons[code]);
      add(ok, document.createTextNode(" "), tag);
    }
    const audit = list(e.changedBy);
    const last = audit[audit.length - 1];
    const who = el("td", "", last ? actor(last.by) : "—");
    if (last) add(who, el("br"), el("small", "", last.when + (audit.length > 1 ?
      " (+" + (audit.length - 1) + " earlier)" : "")));
    add(body, add(el("tr"), el("td", "", e.kind),
      el("td", "", e.displayName === null || e.displayName === undefined ? "(no name)" :
        e.displayName),
      td(el("code", "", e.id)), td(el("span", "badge " + e.change, e.change)),
      el("td", "", e.deletion || ""), ok, who));
    const details = add(el("details"), el("summary", "", outline(e)));
    let filled = false;
    details.addEventListener("toggle", () => {
      if (details.open && !filled) { filled = true; fill(details, e); }
    });
    const cell = add(el("td"), details);
    cell.setAttribute("colspan", "7");
    return add(body, add(el("tr", "more"), cell));
  }
  function haystack(e) {
    if (e._text === undefined) {
      const id = (x) => (typeof x === "string" ? x : JSON.stringify(x));
      e._text = [e.kind, e.displayName || "", e.id, e.change, e.deletion || "",
        e.sourceOfAuthority, list(e.reasons).join(" "),
        list(e.properties).map((p) => p.path).join(" "),
        list(e.links).map((l) => l.link + " " + list(l.added).concat(list(l.removed))
          .map(id).join(" ")).join(" "),
        list(e.changedBy).map((a) => actor(a.by) + " " + a.activity).join(" "),
      ].join("\\n").toLowerCase();
    }
    return e._text;
  }
  const text = $("f-text"), kind = $("f-kind"), change = $("f-change");
  const bad = $("f-unrecoverable"), more = $("more"), count = $("match-count");
  const box = $("entries");
  let matched = data, shown = 0, current = null, timer = 0;
  function renderMore() {
    const end = Math.min(shown + PAGE, matched.length);
    for (; shown < end; shown++) current.appendChild(row(matched[shown]));
    count.textContent = matched.length + " of " + data.length + " entries match" +
      (shown < matched.length ? "; showing " + shown : "") +
      (meta.truncated ? " (this page holds the first " + data.length + " of " + meta.total +
        " entries)" : "");
    more.hidden = shown >= matched.length;
  }
  function apply() {
    const q = text.value.trim().toLowerCase();
    const k = kind.value, c = change.value, onlyBad = bad.checked;
    matched = data.filter((e) => (!k || e.kind === k) && (!c || e.change === c) &&
      (!onlyBad || !e.recoverable) && (!q || haystack(e).includes(q)));
    box.textContent = "";
    const head = el("tr");
    for (const h of ["Kind", "Display name", "Id", "Change", "Deletion", "Recoverable",
                     "Changed by (latest)"]) add(head, el("th", "", h));
    current = add(el("table", "entries"), add(el("thead"), head));
    add(box, current);
    shown = 0;
    renderMore();
  }
  text.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(apply, 150); });
  for (const select of [kind, change, bad]) select.addEventListener("change", apply);
  more.addEventListener("click", renderMore);
  $("controls").hidden = false;
  apply();
})();
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


# Only our own style and script may run, and nothing may be fetched: the page is a record.
_CSP = (f"default-src 'none'; style-src '{_sha256(_CSS)}'; script-src '{_sha256(_JS)}'; "
        "img-src 'none'; base-uri 'none'; form-action 'none'")


def script_json(value: Any) -> bytes:
    """JSON safe inside `<script>`: every `<` becomes `\\u003c`, which covers `</script>` and
    `<!--` alike and still parses as the same JSON."""
    return orjson.dumps(value).replace(b"<", b"\\u003c")


def write_html(header: Mapping[str, Any], entries: Iterable[Json], out: IO[bytes], *,
               limit: int = MAX_HTML_ENTRIES) -> None:
    """Stream the page: static head and counts, then up to `limit` entries as JSON, then the
    script. Only the first `limit` entries are embedded (a browser cannot render a million
    rows); the page says so, and the other formats stay complete."""
    head = ordered_header(header)
    sink = ChunkWriter(out)
    sink.write(_page_top(head, limit).encode())
    sink.write(b'<script type="application/json" id="report-data">[')
    shown, truncated = 0, False
    for entry in entries:
        if shown >= limit:
            truncated = True
            break
        sink.write((b",\n" if shown else b"\n") + script_json(ordered_entry(entry)))
        shown += 1
    meta = {"shown": shown, "truncated": truncated, "limit": limit,
            "total": max(int(head["summary"]["total"]), shown), "reasons": REASON_CODES}
    sink.write(b"]</script>\n<script type=\"application/json\" id=\"report-meta\">"
               + script_json(meta) + b"</script>\n")
    sink.write(f"<script>{_JS}</script>\n</body>\n</html>\n".encode())
    sink.flush()


def _page_top(head: Json, limit: int) -> str:
    """Everything before the data: head, title, counts, notices and the filter controls."""
    tenant, snapshot = escape(head["tenantId"]), escape(head["snapshotId"])
    against = "the live tenant" if head["against"] == "live" else \
        f"snapshot {escape(head['against'])}"
    summary = head["summary"]
    title = f"Entra difference report – {tenant} – {snapshot} vs {against}"
    total = int(summary["total"])
    notice = ""
    if total > limit:
        notice = (f'<p class="notice">This page embeds the first {limit:,} of {total:,} entries '
                  "(a browser cannot list more). The json, ndjson and csv exports hold every "
                  "entry.</p>\n")
    kind_options = "".join(f'<option value="{escape(k)}">{escape(k)}</option>'
                           for k in known_kinds() if k in summary["byKind"])
    change_options = "".join(f'<option value="{c}">{c}</option>' for c in CHANGES)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>Difference report for tenant {tenant}</h1>
<p class="sub">Snapshot <strong>{snapshot}</strong> against <strong>{against}</strong> ·
created {escape(head["createdAt"])} · report {escape(head["reportId"])} ·
schemaVersion {SCHEMA_VERSION}</p>
{_filters(head["filters"])}</header>
<main>
<h2>Summary</h2>
{_counts_table(summary)}
{_facts_table(summary)}
<h2>Entries</h2>
{notice}<div id="controls" hidden>
<input type="search" id="f-text" aria-label="Text filter"
 placeholder="Filter by name, id, property, link target, reason, who">
<select id="f-kind" aria-label="Kind"><option value="">All kinds</option>{kind_options}</select>
<select id="f-change" aria-label="Change"><option value="">All changes</option>{change_options}
</select>
<label><input type="checkbox" id="f-unrecoverable"> Not recoverable only</label>
<span id="match-count"></span>
</div>
<noscript><p class="notice">JavaScript is off, so entries are not listed here; the counts
above are complete, and the json, ndjson and csv exports hold every entry.</p></noscript>
<div id="entries"></div>
<button type="button" id="more" hidden>Show more</button>
</main>
"""


def _filters(filters: Json) -> str:
    parts = [f"{label}: {escape(', '.join(filters[key]))}"
             for key, label in (("kinds", "kinds"), ("objectIds", "objects"),
                                ("changes", "changes")) if filters.get(key)]
    return f'<p class="sub">Filtered to {"; ".join(parts)}</p>\n' if parts else ""


def _counts_table(summary: Json) -> str:
    """Changes by kind and change type, with how each kind's later side was read."""
    by_kind, live_path = summary["byKind"], summary["livePath"]
    rows = []
    for kind in [k for k in known_kinds() if k in by_kind or k in live_path]:
        counts = by_kind.get(kind) or {}
        cells = "".join(f'<td class="num">{int(counts.get(c, 0)):,}</td>' for c in CHANGES)
        total = sum(int(counts.get(c, 0)) for c in CHANGES)
        path = _LIVE_PATH.get(live_path.get(kind, ""), live_path.get(kind, ""))
        rows.append(f'<tr><th scope="row">{escape(kind)}</th>{cells}'
                    f'<td class="num">{total:,}</td><td>{escape(path)}</td></tr>')
    by_change = summary["byChange"]
    foot = "".join(f'<td class="num">{int(by_change[c]):,}</td>' for c in CHANGES)
    body = "\n".join(rows) or '<tr><td colspan="6">No kinds compared.</td></tr>'
    return ('<table class="counts"><thead><tr><th>Kind</th><th class="num">Created</th>'
            '<th class="num">Updated</th><th class="num">Deleted</th><th class="num">Total</th>'
            f'<th>Later side read by</th></tr></thead>\n<tbody>\n{body}\n</tbody>\n'
            f'<tfoot><tr><th scope="row">All kinds</th>{foot}'
            f'<td class="num">{int(summary["total"]):,}</td><td></td></tr></tfoot></table>')


def _facts_table(summary: Json) -> str:
    facts = (
        ("Soft-deleted (in a recycle bin)", f"{int(summary['softDeleted']):,}"),
        ("Hard-deleted (gone)", f"{int(summary['hardDeleted']):,}"),
        ("Recoverable", f"{int(summary['recoverable']):,}"),
        ("Not recoverable", f"{int(summary['notRecoverable']):,}"),
        ("Computed in", f"{float(summary['durationSeconds']):,.1f} s"),
    )
    rows = "".join(f'<tr><th scope="row">{label}</th><td class="num">{value}</td></tr>'
                   for label, value in facts)
    return f'<table class="facts"><tbody>{rows}</tbody></table>'
