"""The promises the infrastructure carries, read offline from the Bicep files.

Shapes checked against the ARM template reference:
https://learn.microsoft.com/azure/templates/microsoft.storage/storageaccounts,
.../storageaccounts/blobservices/containers, .../containers/immutabilitypolicies,
.../storageaccounts/managementpolicies, https://learn.microsoft.com/azure/templates/microsoft.web/sites,
https://learn.microsoft.com/azure/templates/microsoft.durabletask/schedulers.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from entra_backup.store.snapshots import AREAS, DEFAULT_CONTAINER, WORM_AREAS, area_container
from tests.infra.bicep import (
    INFRA,
    bicep_files,
    main_module_params,
    module,
    parse,
    resource,
    resources_of_type,
)

STORAGE = "Microsoft.Storage/storageAccounts"
CONTAINERS = "Microsoft.Storage/storageAccounts/blobServices/containers"
POLICIES = "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies"
ROLE = "Microsoft.Authorization/roleAssignments"

# Every Azure role the app's identity may hold: (file, resource, role id, scope symbol).
ROLES = {
    ("rbac", "runtimeBlobOwner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "runtime"),
    ("rbac", "vaultBlobOwner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "vault"),
    ("rbac", "vaultTable", "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", "vault"),
    ("rbac", "metricsPublisher", "3913510d-42f4-4e42-8a64-420c390055eb", "insights"),
    ("rbac-dts", "hubContributor", "0ad04412-c4d5-4796-b79c-f76d14c8d402", "taskHub"),
    ("rbac-azure-storage", "runtimeQueue", "974c5e8b-45b9-4653-ba55-5f855dd0fb88", "runtime"),
    ("rbac-azure-storage", "runtimeTable", "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", "runtime"),
}


def find(tree: Any, key: str) -> Any:
    """The first value under `key` anywhere in a parsed expression (pycep nests ternaries)."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        for value in tree.values():
            found = find(value, key)
            if found is not None:
                return found
    return None


def test_every_bicep_file_parses_and_uses_local_modules_only() -> None:
    files = bicep_files()
    assert len(files) >= 9
    for path in files:
        doc = parse(path)
        for mod in doc.get("modules", {}).values():
            assert mod["type"] == "local", (path.name, mod)
            assert (path.parent / mod["detail"]["path"]).is_file()
        text = "\n".join(line.split("//")[0] if "'" not in line else line
                         for line in path.read_text().splitlines())
        assert not re.search(r"^\s*(extension|import|func)\s", text, re.M), path
        assert "deployer()" not in text and "br/public:" not in text and "br:" not in text


def test_no_resource_is_conditional_looped_or_nested() -> None:
    """checkov's parser nests a conditional or looped resource's body one level down, so its
    checks would not see the properties (conditions live on module calls instead), and it
    does not read nested child resources as children (they must be top level with parent:)."""
    for path in bicep_files():
        for name, body in parse(path).get("resources", {}).items():
            assert "condition" not in body["config"], (path.name, name)
            assert "loop_type" not in body["config"], (path.name, name)
            # a nested child comes out as `parent__child` with a malformed type (verified with
            # both pycep 0.5.1 and 0.7.1); checkov matches no check to it
            assert "__" not in name and "@" not in body["type"], (path.name, name)
        assert not re.search(r"^[ \t]+resource\s", path.read_text(), re.M), path.name


@pytest.mark.parametrize("account", ["runtime", "vault"])
def test_storage_accounts_take_no_keys_and_only_tls12_https(account: str) -> None:
    props = resource(module("storage"), account)["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["defaultToOAuthAuthentication"] is True
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["allowBlobPublicAccess"] is False
    assert props["allowCrossTenantReplication"] is False


def test_snapshots_and_reports_are_worm_with_retention_equal_to_the_lifecycle_delete() -> None:
    storage = module("storage")
    assert resource(storage, "vaultBlobs")["properties"]["isVersioningEnabled"] is True
    containers = resources_of_type(storage, CONTAINERS)
    policies = resources_of_type(storage, POLICIES)
    by_container = {body["name"]: body for body in containers.values()}
    assert {"snapshots", "reports", "staging", "archive"} <= set(by_container)
    assert DEFAULT_CONTAINER == "snapshots"  # the engine's default container is the WORM one
    # every area the engine writes is a sibling container the template makes, WORM exactly
    # where the engine writes locked policies (a policy in any other container is refused)
    assert {area_container(DEFAULT_CONTAINER, area) for area in AREAS} <= set(by_container)
    worm = {name for name, body in by_container.items()
            if body["properties"].get("immutableStorageWithVersioning", {}).get("enabled")}
    assert worm == {DEFAULT_CONTAINER, "archive"} | {
        area_container(DEFAULT_CONTAINER, area) for area in WORM_AREAS}
    retention_of = {}
    for name, body in policies.items():
        assert body["name"] == "default", name
        parent = containers[body["parent"]]
        assert parent["properties"]["immutableStorageWithVersioning"]["enabled"] is True
        assert body["properties"]["allowProtectedAppendWrites"] is False
        retention_of[parent["name"]] = body["properties"]["immutabilityPeriodSinceCreationInDays"]
    assert retention_of == {"snapshots": "retentionDays", "reports": "retentionDays",
                            "archive": "archiveDays"}
    assert "immutableStorageWithVersioning" not in by_container["staging"]["properties"]
    for body in containers.values():
        assert body["properties"]["publicAccess"] == "None"

    rules = {rule["name"]: rule["definition"]
             for var in ("expiryRules", "archiveRules")
             for rule in storage["variables"][var]["value"]}
    lifecycle = resource(storage, "lifecycle")["properties"]["policy"]["rules"]
    assert lifecycle["function"]["parameters"] == {"arg_1": "expiryRules", "arg_2": "archiveRules"}
    for container in ("snapshots", "reports", "archive"):
        rule = next(d for d in rules.values() if d["filters"]["prefixMatch"] == [f"{container}/"])
        days = retention_of[container]
        assert rule["actions"]["baseBlob"]["delete"] == {"daysAfterCreationGreaterThan": days}
        assert rule["actions"]["version"]["delete"] == {"daysAfterCreationGreaterThan": days}
    staging = rules["clean-staging"]
    assert staging["filters"]["prefixMatch"] == ["staging/"]
    assert staging["actions"]["baseBlob"]["delete"] == {"daysAfterModificationGreaterThan": 1}
    assert rules["archive-cool-then-expire"]["actions"]["baseBlob"]["tierToCool"]

    # one number from main.bicep to both promises and to the engine's own per-blob expiry
    assert main_module_params("storage")["retentionDays"] == "retentionDays"
    assert main_module_params("app")["retentionDays"] == "retentionDays"
    settings = module("function")["variables"]["appSettings"]["value"]
    assert settings["ENTRA_BACKUP_RETENTION_DAYS"]["function"] == {
        "type": "string", "parameters": {"value_to_convert": "retentionDays"}}
    assert parse(INFRA / "main.bicep")["parameters"]["retentionDays"]["default"] == 5


def test_function_app_is_flex_python_with_identity_based_connections_only() -> None:
    function = module("function")
    plan = resource(function, "plan")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = resource(function, "site")
    assert site["identity"]["type"] == "UserAssigned"
    props = site["properties"]
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    config = props["functionAppConfig"]
    pinned = re.search(r'target-version = "py3(\d+)"', (INFRA.parent / "pyproject.toml")
                       .read_text())
    assert pinned is not None
    assert config["runtime"] == {"name": "python", "version": f"3.{pinned.group(1)}"}
    assert config["scaleAndConcurrency"]["alwaysReady"] == [{"name": "durable",
                                                             "instanceCount": 1}]
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    variables = function["variables"]
    storage = variables["storageSettings"]["value"]
    assert storage["AzureWebJobsStorage__credential"] == "managedidentity"
    assert set(storage) == {"AzureWebJobsStorage__accountName",
                            "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId"}
    dts = find(variables["durableSettings"]["value"], "true_value")
    assert dts["DURABLE_BACKEND"] == "dts"
    assert ";Authentication=ManagedIdentity;ClientID=${identityClientId}" in dts[
        "DURABLE_TASK_SCHEDULER_CONNECTION"]
    fallback = find(variables["durableSettings"]["value"], "false_value")
    assert fallback["DURABLE_BACKEND"] == "azureStorage"
    overrides = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__"
    assert fallback == {"DURABLE_BACKEND": "azureStorage", "DURABLE_TASK_HUB": "taskHubName",
                        f"{overrides}type": "AzureStorage",
                        f"{overrides}connectionStringName": "AzureWebJobsStorage",
                        f"{overrides}maxQueuePollingInterval": "00:00:10"}
    assert not any(key.startswith("AzureFunctionsJobHost__") for key in dts)
    app = variables["appSettings"]["value"]
    assert app["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].endswith("Authorization=AAD")
    assert {"ENTRA_BACKUP_API_AUDIENCE", "ENTRA_BACKUP_API_TENANT_ID", "ENTRA_BACKUP_STORE",
            "SNAPSHOT_SCHEDULE", "RETENTION_SCHEDULE", "AZURE_CLIENT_ID"} <= set(app)
    assert "ENTRA_BACKUP_API_LOCAL_DEV" not in app and "ENTRA_BACKUP_GRAPH_TOKEN" not in app
    # Flex rejects the classic runtime settings; and no setting may carry a key
    text = json.dumps(function)
    for banned in ("FUNCTIONS_WORKER_RUNTIME", "WEBSITE_RUN_FROM_PACKAGE", "AccountKey",
                   "listKeys", "SharedAccessSignature", "InstrumentationKey="):
        assert banned not in text
    for path in bicep_files():
        parsed = json.dumps(parse(path))
        assert "list_keys" not in parsed and "listKeys" not in parsed and "AccountKey" not in parsed
    basic = resources_of_type(function, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {b["name"]: b["properties"]["allow"] for b in basic.values()} == {"scm": False,
                                                                            "ftp": False}


def test_platform_auth_requires_a_token_for_the_api_audience() -> None:
    auth = resource(module("function"), "auth")
    assert auth["name"] == "authsettingsV2"
    props = auth["properties"]
    assert props["platform"]["enabled"] == "platformAuth"
    assert props["globalValidation"]["requireAuthentication"] is True
    assert props["globalValidation"]["unauthenticatedClientAction"] == "Return401"
    assert props["globalValidation"]["excludedPaths"] == ["/api/health"]
    aad = props["identityProviders"]["azureActiveDirectory"]
    assert aad["registration"]["clientId"] == "apiClientId"
    assert "clientSecretSettingName" not in aad["registration"]


def test_durable_task_scheduler_is_consumption_with_a_task_hub() -> None:
    durable = module("durable")
    scheduler = resource(durable, "scheduler")
    assert scheduler["properties"]["sku"] == {"name": "Consumption"}
    assert scheduler["properties"]["ipAllowlist"]  # empty would deny every caller
    assert resource(durable, "taskHub")["parent"] == "scheduler"
    main = parse(INFRA / "main.bicep")
    assert main["parameters"]["durableBackend"]["default"] == "dts"
    assert main["modules"]["durable"]["config"]["condition"]


def test_role_assignments_are_exactly_the_listed_ones() -> None:
    found = set()
    for path in bicep_files():
        doc = parse(path)
        for name, body in resources_of_type(doc, ROLE).items():
            props = body["properties"]
            role = props["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
            assert props["principalType"] == "ServicePrincipal"
            assert props["principalId"] == "principalId"
            found.add((path.stem, name, role, body["scope"]))
            scoped = doc["resources"][body["scope"]]
            assert scoped["type"] != "Microsoft.Resources/resourceGroups"
    roles = {n: v["value"] for path in bicep_files()
             for n, v in parse(path).get("variables", {}).items() if isinstance(v["value"], str)}
    assert {(f, n, roles[r], s) for f, n, r, s in found} == ROLES


def test_parameters_file_covers_every_required_main_parameter() -> None:
    main = parse(INFRA / "main.bicep")["parameters"]
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) == set(main)
    assert given["apiClientId"]["value"] == "${API_CLIENT_ID}"
