"""Tests for the generated Graph schema module graphsim/schema_data.py."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "graphsim" / "schema_data.py"
GENERATOR_PATH = REPO_ROOT / "scripts" / "gen_graphsim_schema.py"

_PRIMITIVES = "string|boolean|int|double|guid|dateTimeOffset|date|timeOfDay|duration|binary"
_ATOM = rf"(?:{_PRIMITIVES}|(?:enum|complex|entity):[A-Za-z][A-Za-z0-9.]*)"
TYPE_STRING = re.compile(rf"{_ATOM}|collection\({_ATOM}\)")


def _load(name: str, path: Path) -> ModuleType:
    """Import a file by path (the tests/graphsim package shadows a plain ``import graphsim``)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


@pytest.fixture(scope="module")
def schema() -> ModuleType:
    return _load("_graphsim_schema_data_under_test", SCHEMA_PATH)


def test_user_properties(schema: ModuleType) -> None:
    user = schema.PROPERTIES["user"]
    assert user["userPrincipalName"] == "string"
    assert user["accountEnabled"] == "boolean"
    assert user["passwordProfile"] == "complex:passwordProfile"
    assert user["businessPhones"] == "collection(string)"
    assert user["id"] == "string"
    assert "@odata.type" not in user
    assert "manager" not in user
    assert schema.COMPLEX["passwordProfile"]["forceChangePasswordNextSignIn"] == "boolean"


def test_navigations(schema: ModuleType) -> None:
    assert schema.NAVIGATIONS["user"]["manager"] == "entity:directoryObject"
    assert schema.NAVIGATIONS["group"]["members"] == "collection(entity:directoryObject)"
    assert schema.NAVIGATIONS["group"]["owners"] == "collection(entity:directoryObject)"
    assert schema.NAVIGATIONS["application"]["owners"] == "collection(entity:directoryObject)"
    assert set(schema.NAVIGATIONS) == set(schema.PROPERTIES)
    for name, navs in schema.NAVIGATIONS.items():
        assert not set(navs) & set(schema.PROPERTIES[name]), name
        assert all(re.fullmatch(r"(collection\()?entity:[\w.]+\)?", t) for t in navs.values())


def test_agent_user_extends_user(schema: ModuleType) -> None:
    agent_user = schema.PROPERTIES["agentUser"]
    assert "identityParentId" in agent_user
    assert schema.PROPERTIES["user"].items() <= agent_user.items()
    assert schema.BASE_TYPES["agentUser"] == "user"
    assert "agentUser" in schema.SUBTYPES["user"]


def test_base_types(schema: ModuleType) -> None:
    assert schema.BASE_TYPES["agentIdentity"] == "servicePrincipal"
    assert schema.BASE_TYPES["agentIdentityBlueprintPrincipal"] == "servicePrincipal"
    assert schema.BASE_TYPES["agentIdentityBlueprint"] == "application"
    assert schema.BASE_TYPES["ipNamedLocation"] == "namedLocation"
    assert schema.BASE_TYPES["countryNamedLocation"] == "namedLocation"
    assert schema.BASE_TYPES["user"] == "directoryObject"
    assert schema.BASE_TYPES["iPv4CidrRange"] == "ipRange"
    assert schema.BASE_TYPES["entity"] is None
    assert set(schema.BASE_TYPES) == set(schema.PROPERTIES) | set(schema.COMPLEX)
    for name, base in schema.BASE_TYPES.items():
        if base is not None:
            assert base in schema.BASE_TYPES, (name, base)
            table = schema.PROPERTIES if name in schema.PROPERTIES else schema.COMPLEX
            assert table[base].items() <= table[name].items(), name


def test_served_types_present(schema: ModuleType) -> None:
    served = {
        "user", "agentUser", "group", "application", "agentIdentityBlueprint",
        "servicePrincipal", "agentIdentity", "agentIdentityBlueprintPrincipal",
        "conditionalAccessPolicy", "ipNamedLocation", "countryNamedLocation",
        "authenticationMethodsPolicy", "authorizationPolicy", "organization",
        "appRoleAssignment", "oAuth2PermissionGrant", "directoryAudit",
        "emailAuthenticationMethodConfiguration", "fido2AuthenticationMethodConfiguration",
        "microsoftAuthenticatorAuthenticationMethodConfiguration",
        "smsAuthenticationMethodConfiguration", "softwareOathAuthenticationMethodConfiguration",
        "temporaryAccessPassAuthenticationMethodConfiguration",
        "voiceAuthenticationMethodConfiguration",
        "x509CertificateAuthenticationMethodConfiguration",
    }  # fmt: skip
    assert served <= set(schema.PROPERTIES)
    for config in schema.SUBTYPES["authenticationMethodConfiguration"]:
        assert config in schema.PROPERTIES
        assert schema.BASE_TYPES[config] == "authenticationMethodConfiguration"


def test_complex_types_and_subtypes(schema: ModuleType) -> None:
    conditions = schema.COMPLEX["conditionalAccessConditionSet"]
    assert conditions["users"] == "complex:conditionalAccessUsers"
    assert "includeUsers" in schema.COMPLEX["conditionalAccessUsers"]
    assert schema.PROPERTIES["ipNamedLocation"]["ipRanges"] == "collection(complex:ipRange)"
    assert {"iPv4CidrRange", "iPv6CidrRange"} <= set(schema.SUBTYPES["ipRange"])
    assert schema.COMPLEX["iPv4CidrRange"]["cidrAddress"] == "string"
    assert schema.COMPLEX["iPv6CidrRange"]["cidrAddress"] == "string"
    assert {"ipNamedLocation", "countryNamedLocation"} <= set(schema.SUBTYPES["namedLocation"])
    assert {"agentIdentity", "agentIdentityBlueprintPrincipal"} <= set(
        schema.SUBTYPES["servicePrincipal"]
    )


def test_enums(schema: ModuleType) -> None:
    assert schema.PROPERTIES["conditionalAccessPolicy"]["state"] == (
        "enum:conditionalAccessPolicyState"
    )
    assert "enabledForReportingButNotEnforced" in schema.ENUMS["conditionalAccessPolicyState"]
    assert "mfa" in schema.ENUMS["conditionalAccessGrantControl"]


def test_every_reference_resolves(schema: ModuleType) -> None:
    tables = [schema.PROPERTIES, schema.NAVIGATIONS, schema.COMPLEX]
    for table in tables:
        for owner, props in table.items():
            for prop, type_string in props.items():
                assert TYPE_STRING.fullmatch(type_string), (owner, prop, type_string)
                match = re.search(r"(enum|complex):([\w.]+)", type_string)
                if match and match[1] == "enum":
                    assert match[2] in schema.ENUMS, (owner, prop)
                elif match:
                    assert match[2] in schema.COMPLEX, (owner, prop)
    for base, derived in schema.SUBTYPES.items():
        assert derived == sorted(derived) and base not in derived
        if base in schema.COMPLEX:
            assert set(derived) <= set(schema.COMPLEX), base
    assert isinstance(schema.SDK_VERSION, str) and schema.SDK_VERSION


def test_generated_file_is_fresh() -> None:
    """Re-generate from the installed msgraph-sdk: an SDK upgrade that changes the schema
    must be followed by ``python scripts/gen_graphsim_schema.py`` and a review of the diff."""
    generator = _load("_gen_graphsim_schema_under_test", GENERATOR_PATH)
    expected = generator.render()
    actual = SCHEMA_PATH.read_text(encoding="utf-8")
    assert actual.splitlines() == expected.splitlines(), (
        "graphsim/schema_data.py is stale; run: python scripts/gen_graphsim_schema.py"
    )
    assert actual == expected
