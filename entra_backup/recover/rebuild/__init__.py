"""Restore into a new tenant: rebuild a lost or untrusted tenant's configuration from a snapshot
in another tenant, with every id mapped old -> new.

`rewrite.py` (pure: domain map, old tenant id, the marker that finds a rebuilt object again),
`carry.py` (pure: what each object becomes in the new tenant, and what cannot be carried),
`plan.py` (the ordered plan of create and link steps, stored like a recovery plan),
`run.py` (discovery of what a previous run made, waves through the recovery engine, the id
map kept as it grows), `verify.py` (the snapshot diffed against the new tenant through the map).
"""
