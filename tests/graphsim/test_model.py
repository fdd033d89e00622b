"""The graphsim model without HTTP: Tenant with writes/deletion, ObjectStore cursors, ChangeLog."""

from __future__ import annotations

from typing import Any

import pytest

from graphsim import seed
from graphsim.clock import SimClock
from graphsim.errors import BadRequest, Conflict, NotFound
from graphsim.model import actions, deletion, writes
from graphsim.model.audit import Caller
from graphsim.model.delta import ChangeLog
from graphsim.model.links import LinkStore
from graphsim.model.store import ObjectStore
from graphsim.model.tenant import Tenant
from graphsim.rules import RULES
from tests.graphsim.http_helpers import DOMAIN, new_id, seed_group, seed_user, user_body

Json = dict[str, Any]
CALLER = Caller("app:model-tests")
DAY = 24 * 3600.0


@pytest.fixture
def tenant() -> Tenant:
    """Three cloud users, one synced user, one security group with two members."""
    t = Tenant(SimClock())
    users = [seed_user(n) for n in range(3)] + [seed_user(9, onPremisesSyncEnabled=True)]
    group = seed_group(1)
    items: list[Json] = [{"collection": "users", "object": u} for u in users]
    items.append({"collection": "groups", "object": group})
    items += [{"link": "members", "source": group["id"], "target": users[n]["id"]}
              for n in (0, 1)]
    items.append({"link": "manager", "source": users[1]["id"], "target": users[0]["id"]})
    assert seed.load(t, items) == 5
    return t


def _uid(n: int) -> str:
    return str(seed_user(n)["id"])


GROUP = str(seed_group(1)["id"])


# ----- ObjectStore -------------------------------------------------------------------------

def _store(n: int) -> ObjectStore:
    store = ObjectStore()
    for i in range(n):
        store.put({"id": f"o{i}"})
    return store


def test_store_cursor_neither_skips_nor_repeats_while_deleting() -> None:
    store = _store(10)
    first_page = [(pos, obj["id"]) for pos, obj in list(store.scan())[:4]]
    resume = first_page[-1][0] + 1
    store.pop("o1")  # already returned
    store.pop("o6")  # not yet returned
    rest = [obj["id"] for _, obj in store.scan(resume)]
    assert rest == ["o4", "o5", "o7", "o8", "o9"]
    assert len(store) == 8 and "o6" not in store and store.get("o6") is None


def test_store_readd_goes_to_the_end_and_update_keeps_the_position() -> None:
    store = _store(3)
    store.pop("o0")
    store.put({"id": "o0", "v": 2})  # a restored object is new to a cursor
    assert [o["id"] for _, o in store.scan()] == ["o1", "o2", "o0"]
    store.put({"id": "o1", "v": 3})  # replacing a live object keeps its place
    assert [(o["id"], o.get("v")) for _, o in store.scan()] == [
        ("o1", 3), ("o2", None), ("o0", 2)]
    assert store.end() == 4  # the old position of o0 stays a tombstone


def test_store_scan_from_a_tombstone_position() -> None:
    store = _store(5)
    positions = {obj["id"]: pos for pos, obj in store.scan()}
    store.pop("o2")
    assert [o["id"] for _, o in store.scan(positions["o2"])] == ["o3", "o4"]
    assert list(store.scan(store.end())) == []


# ----- ChangeLog -------------------------------------------------------------------------

def test_fold_merges_changes_per_object_in_first_change_order() -> None:
    log = ChangeLog()
    log.record("users", "a", props=frozenset({"displayName"}))
    log.record("users", "b")  # created
    log.record("groups", "g", props=frozenset(), links=(("members", "a", True),))
    log.record("users", "a", props=frozenset({"jobTitle"}))
    log.record("users", "b", props=frozenset({"jobTitle"}))
    assert log.head == 5
    folded = log.fold("users", 0, log.head)
    assert [f.object_id for f in folded] == ["a", "b"]
    assert folded[0].props == {"displayName", "jobTitle"} and not folded[0].whole
    assert folded[1].whole and folded[1].props == {"jobTitle"}
    groups = log.fold("groups", 0, log.head)
    assert groups[0].links == {"members": {"a": True}}


def test_fold_respects_the_window() -> None:
    log = ChangeLog()
    for n in range(6):
        log.record("users", f"u{n}", props=frozenset({"x"}))
    assert [f.object_id for f in log.fold("users", 2, 4)] == ["u2", "u3"]
    assert log.fold("users", 6, 6) == []
    assert [f.object_id for f in log.fold("users", 0, 1)] == ["u0"]


def test_fold_removal_and_recreation() -> None:
    log = ChangeLog()
    log.record("users", "a", props=frozenset({"jobTitle"}))
    log.record("users", "a", removed=True)
    removed = log.fold("users", 0, log.head)[0]
    assert removed.removed and not removed.whole and removed.props == set()
    log.record("users", "a")  # restored: whole object again
    back = log.fold("users", 0, log.head)[0]
    assert back.whole and not back.removed


def test_fold_keeps_the_last_link_state() -> None:
    log = ChangeLog()
    log.record("groups", "g", props=frozenset(), links=(("members", "u", True),))
    log.record("groups", "g", props=frozenset(), links=(("members", "u", False),
                                                        ("members", "v", True)))
    folded = log.fold("groups", 0, log.head)[0]
    assert folded.links == {"members": {"u": False, "v": True}}


# ----- LinkStore -------------------------------------------------------------------------

def test_link_store_both_directions_and_drop() -> None:
    links = LinkStore()
    assert links.add("members", "g1", "u1") and not links.add("members", "g1", "u1")
    links.add("members", "g2", "u1")
    links.add("owners", "g1", "u2")
    links.add("members", "g1", "u2")
    assert links.targets("members", "g1") == ["u1", "u2"]
    assert links.sources("members", "u1") == ["g1", "g2"]
    dropped = links.drop("u1")
    assert sorted(dropped) == [("members", "g1", "u1"), ("members", "g2", "u1")]
    assert links.targets("members", "g1") == ["u2"] and links.sources("members", "u1") == []
    assert links.count("owners", "g1") == 1


# ----- Tenant with writes and deletion ------------------------------------------------------

def test_create_validates_before_changing_anything(tenant: Tenant) -> None:
    before = len(tenant.stores["users"])
    with pytest.raises(BadRequest, match="Invalid property 'shoeSize'"):
        writes.create_object(tenant, CALLER, "users", {**user_body("x"), "shoeSize": 44})
    with pytest.raises(BadRequest) as conflict:
        writes.create_object(tenant, CALLER, "users",
                             {**user_body("x"), "userPrincipalName": "USER1@contoso.test"})
    assert conflict.value.details[0]["code"] == "ObjectConflict"
    assert len(tenant.stores["users"]) == before
    assert tenant.audit.events == [] and tenant.changes.head == 0
    created = writes.create_object(tenant, CALLER, "users", user_body("x"))
    assert tenant.find("users", created["id"]) is created
    assert tenant.upn_index[f"x@{DOMAIN}"] == created["id"]
    assert tenant.changes.head == 1 and tenant.audit.events[0]["activityDisplayName"] == (
        "Add user")


def test_update_records_only_real_changes(tenant: Tenant) -> None:
    writes.update_object(tenant, CALLER, "users", _uid(0), {"jobTitle": None})
    assert tenant.changes.head == 0  # unchanged value: no change, no audit
    writes.update_object(tenant, CALLER, "users", _uid(0), {"jobTitle": "Chef"})
    folded = tenant.changes.fold("users", 0, tenant.changes.head)
    assert folded[0].props == {"jobTitle"}
    assert len(tenant.audit.events) == 1
    with pytest.raises(NotFound):
        writes.update_object(tenant, CALLER, "users", new_id("nobody"), {"jobTitle": "x"})


def test_synced_user_and_bind_rules(tenant: Tenant) -> None:
    with pytest.raises(BadRequest, match="on-premises mastered"):
        writes.update_object(tenant, CALLER, "users", _uid(9), {"displayName": "x"})
    writes.update_object(tenant, CALLER, "users", _uid(9), {"usageLocation": "DE"})
    bad = [f"https://graph/v1.0/directoryObjects/{i}" for i in (_uid(2), new_id("ghost"))]
    with pytest.raises(BadRequest, match="don't exist"):
        writes.update_object(tenant, CALLER, "groups", GROUP, {"members@odata.bind": bad})
    assert sorted(tenant.links.targets("members", GROUP)) == sorted([_uid(0), _uid(1)])
    with pytest.raises(BadRequest, match="already exist"):
        writes.add_link(tenant, CALLER, "groups", GROUP, "members", f"x/{_uid(0)}")


def test_soft_delete_keeps_links_and_restore_brings_them_back(tenant: Tenant) -> None:
    deletion.delete_object(tenant, CALLER, "users", _uid(1))
    assert _uid(1) in tenant.bin and not tenant.is_live(_uid(1))
    assert tenant.links.has("members", GROUP, _uid(1))  # kept while soft-deleted
    assert "user1@contoso.test" not in tenant.upn_index
    collection, obj = deletion.restore(tenant, CALLER, _uid(1))
    assert collection == "users" and obj["id"] == _uid(1) and "deletedDateTime" not in obj
    assert tenant.links.targets("manager", _uid(1)) == [_uid(0)]
    assert tenant.upn_index["user1@contoso.test"] == _uid(1)
    with pytest.raises(BadRequest, match="on-premises"):
        deletion.delete_object(tenant, CALLER, "users", _uid(9))


def test_retention_purges_after_30_days_and_drops_links(tenant: Tenant) -> None:
    deletion.delete_object(tenant, CALLER, "users", _uid(1))
    tenant.clock.advance(29 * DAY)
    tenant.purge_expired()
    assert _uid(1) in tenant.bin
    tenant.clock.advance(2 * DAY)
    tenant.purge_expired()
    assert _uid(1) not in tenant.bin and tenant.stats["automaticPurges"] == 1
    assert not tenant.links.has("members", GROUP, _uid(1))
    assert tenant.links.targets("manager", _uid(1)) == []
    with pytest.raises(NotFound):
        deletion.restore(tenant, CALLER, _uid(1))


def test_permanent_delete_and_hard_delete_kinds(tenant: Tenant) -> None:
    deletion.delete_object(tenant, CALLER, "users", _uid(0))
    deletion.permanently_delete(tenant, CALLER, _uid(0), ca=False)
    assert tenant.stats["permanentDeletes"] == 1
    assert tenant.links.targets("manager", _uid(1)) == []
    assert deletion.goes_to_bin("groups", {"groupTypes": ["Unified"], "mailEnabled": True})
    assert deletion.goes_to_bin("groups", {"groupTypes": [], "mailEnabled": False})
    assert not deletion.goes_to_bin("groups", {"groupTypes": [], "mailEnabled": True})
    assert not deletion.goes_to_bin("groups", {"groupTypes": [], "onPremisesSyncEnabled": True})
    assert not deletion.goes_to_bin("oauth2PermissionGrants", {})


def test_restored_named_location_is_untrusted() -> None:
    t = Tenant(SimClock())
    location = {"@odata.type": "#microsoft.graph.ipNamedLocation", "id": new_id("loc"),
                "displayName": "HQ", "isTrusted": True, "ipRanges": []}
    seed.load(t, [{"collection": "namedLocations", "object": location}])
    with pytest.raises(BadRequest, match="trusted"):
        deletion.delete_object(t, CALLER, "namedLocations", location["id"])
    writes.update_object(t, CALLER, "namedLocations", location["id"], {
        "@odata.type": "#microsoft.graph.ipNamedLocation", "isTrusted": False})
    deletion.delete_object(t, CALLER, "namedLocations", location["id"])
    t.bin[location["id"]].obj["isTrusted"] = True  # whatever trust it had, it loses it
    with pytest.raises(NotFound):
        deletion.restore(t, CALLER, location["id"], ca=False)
    _, restored = deletion.restore(t, CALLER, location["id"], ca=True)
    assert restored["isTrusted"] is False and restored["deletedDateTime"] is None


def test_add_password_keeps_only_the_hint_and_sp_app_ids_are_unique(tenant: Tenant) -> None:
    app = writes.create_object(tenant, CALLER, "applications", {"displayName": "App"})
    credential = actions.add_password(tenant, CALLER, "applications", app["id"], {})
    stored = tenant.find("applications", app["id"])["passwordCredentials"]
    assert stored[0]["keyId"] == credential["keyId"] and "secretText" not in stored[0]
    assert credential["secretText"] not in repr(seed.dump(tenant))
    writes.create_object(tenant, CALLER, "servicePrincipals", {"appId": app["appId"]})
    with pytest.raises(Conflict):
        writes.create_object(tenant, CALLER, "servicePrincipals", {"appId": app["appId"]})


def test_view_projection_rules(tenant: Tenant) -> None:
    rule = RULES["users"]
    user = tenant.find("users", _uid(0))
    default = tenant.view(rule, user, None)
    assert set(default) == set(rule.default_select or ())
    chosen = tenant.view(rule, {**user, "passwordProfile": {"password": "x"}},
                         ["displayName", "passwordProfile"])
    assert chosen == {"id": _uid(0), "displayName": "User 0"}
    with pytest.raises(BadRequest):
        tenant.check_select(rule, None, ["displayName", "favouriteColour"])
