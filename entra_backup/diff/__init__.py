"""Diff: a snapshot compared with the live tenant (or another snapshot), stored as a report.

`compare` is pure, `live` and `audit` read the tenant, `run` assembles a report, and
`reports`/`export` read stored reports back out in four formats.
"""
