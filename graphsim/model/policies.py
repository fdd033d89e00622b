"""The authentication methods policy's per-method configurations (a list inside a singleton)."""

from __future__ import annotations

from graphsim.errors import BadRequest, resource_not_found
from graphsim.model import writes
from graphsim.model.audit import Caller
from graphsim.model.tenant import Json, Tenant
from graphsim.model.validate import check_body
from graphsim.rules import Rule

POLICY = "authenticationMethodsPolicy"


def method_configurations(tenant: Tenant) -> list[Json]:
    configs: list[Json] = tenant.singleton(POLICY).setdefault(
        "authenticationMethodConfigurations", [])
    return configs


def method_configuration(tenant: Tenant, config_id: str) -> Json:
    """One configuration by id (case-insensitive, as Graph matches `fido2`/`Fido2`), or 404."""
    config = next((c for c in method_configurations(tenant)
                   if c.get("id", "").lower() == config_id.lower()), None)
    if config is None:
        raise resource_not_found(config_id)
    return config


def update_method_configuration(tenant: Tenant, caller: Caller, config_id: str,
                                body: Json) -> None:
    """PATCH one method configuration: `@odata.type` required and must match."""
    policy = tenant.singleton(POLICY)
    config = method_configuration(tenant, config_id)
    given = body.get("@odata.type")
    if not isinstance(given, str):
        raise BadRequest("A type name must be specified: '@odata.type' is required.")
    if given.removeprefix("#") != str(config.get("@odata.type", "")).removeprefix("#"):
        raise BadRequest(f"Type '{given}' does not match the method configuration.")
    type_name = given.removeprefix("#").removeprefix("microsoft.graph.")
    rule = Rule(name="authenticationMethodConfigurations", base_type=type_name,
                read_only=frozenset({"id"}))
    values = check_body(rule, type_name, body, creating=False)
    changed = {k: v for k, v in values.items() if config.get(k) != v}
    if not changed:
        return
    config.update(changed)
    writes.apply_update(tenant, caller, POLICY, policy,
                        {"authenticationMethodConfigurations":
                         list(policy["authenticationMethodConfigurations"])})
