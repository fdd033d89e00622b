// entra-backup: one `azd up` deploys the Function App that backs up Entra ID every day.
// Subscription scope: creates the resource group, then local modules only (no registry
// modules, so tests and checkov read every file offline). Written for checkov's pinned Bicep
// parser (pycep-parser 0.5.1): no `extension`, `import`, `func`, `deployer()`, optional types or
// loops on nested child resources; child resources are top level with `parent:`.
// azd conventions: https://learn.microsoft.com/azure/developer/azure-developer-cli/make-azd-compatible
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags every resource.')
param environmentName string

@minLength(1)
@description('Region for every resource (must offer Flex Consumption and the Durable Task Scheduler).')
param location string

@allowed([
  'dts'
  'azureStorage'
])
@description('Durable backend: the Durable Task Scheduler (Consumption SKU, recommended) or Azure Storage queues and tables.')
param durableBackend string = 'dts'

@minValue(1)
@maxValue(146000)
@description('Days every snapshot and report stays immutable; the lifecycle rule deletes them after the same number of days.')
param retentionDays int = 5

@minValue(1)
@maxValue(146000)
@description('Days the weekly archive copy is kept (cool tier, immutable).')
param archiveDays int = 365

@description('Weekly copy of the newest snapshot per tenant into the archive container (the app\'s ARCHIVE_SCHEDULE timer).')
param archiveEnabled bool = true

@description('Client id (appId) of the API app registration made by infra/app_registration.py (azd env API_CLIENT_ID).')
param apiClientId string

@description('Comma-separated ids of the tenants to protect (ENTRA_BACKUP_TENANTS); the home tenant when empty.')
param protectedTenants string = ''

@description('Object ids of break-glass accounts recovery must never lock out (ENTRA_BACKUP_BREAK_GLASS).')
param breakGlass string = ''

@description('Optional URL the drift check posts its summary to.')
param driftWebhook string = ''

@description('URL the incident runbook posts summaries and outcomes to (e.g. a Teams workflow); empty = none.')
param notifyWebhook string = ''

@description('URL the runbook asks for approval at; it posts the summary and a callback URL and waits.')
param approvalWebhook string = ''

@description('Platform authentication (App Service Authentication) in front of the API, besides the in-app token check.')
param platformAuth bool = true

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourceGroup}${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    workspaceName: '${abbrs.logAnalytics}${resourceToken}'
    insightsName: '${abbrs.appInsights}${resourceToken}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    runtimeAccountName: '${abbrs.storageAccount}rt${resourceToken}'
    vaultAccountName: '${abbrs.storageAccount}vault${resourceToken}'
    deploymentContainerName: 'app-package-${resourceToken}'
    retentionDays: retentionDays
    archiveDays: archiveDays
  }
}

module durable 'modules/durable.bicep' = if (durableBackend == 'dts') {
  name: 'durable'
  scope: rg
  params: {
    location: location
    tags: tags
    schedulerName: '${abbrs.durableTaskScheduler}${resourceToken}'
    taskHubName: 'entrabackup'
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.managedIdentity}${resourceToken}'
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    runtimeAccountName: storage.outputs.runtimeAccountName
    vaultAccountName: storage.outputs.vaultAccountName
    insightsName: monitoring.outputs.insightsName
  }
}

// the backend's own data role: a conditional module, so no resource inside is conditional
module rbacDts 'modules/rbac-dts.bicep' = if (durableBackend == 'dts') {
  name: 'rbac-dts'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    schedulerName: durable.outputs.schedulerName
    taskHubName: durable.outputs.taskHubName
  }
}

module rbacAzureStorage 'modules/rbac-azure-storage.bicep' = if (durableBackend == 'azureStorage') {
  name: 'rbac-azure-storage'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    runtimeAccountName: storage.outputs.runtimeAccountName
  }
}

module app 'modules/function.bicep' = {
  name: 'function'
  scope: rg
  params: {
    location: location
    tags: tags
    planName: '${abbrs.servicePlan}${resourceToken}'
    appName: '${abbrs.functionApp}${resourceToken}'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    runtimeAccountName: storage.outputs.runtimeAccountName
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    vaultBlobEndpoint: storage.outputs.vaultBlobEndpoint
    insightsConnectionString: monitoring.outputs.connectionString
    durableBackend: durableBackend
    durableEndpoint: durableBackend == 'dts' ? durable.outputs.endpoint : ''
    taskHubName: durableBackend == 'dts' ? durable.outputs.taskHubName : 'entrabackup'
    retentionDays: retentionDays
    archiveDays: archiveDays
    archiveEnabled: archiveEnabled
    apiClientId: apiClientId
    protectedTenants: protectedTenants
    breakGlass: breakGlass
    driftWebhook: driftWebhook
    platformAuth: platformAuth
  }
  dependsOn: [
    rbac
    rbacDts
    rbacAzureStorage
  ]
}

module runbook 'modules/logicapp.bicep' = {
  name: 'runbook'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.logicApp}runbook-${resourceToken}'
    apiBaseUrl: 'https://${app.outputs.defaultHostName}'
    apiAudience: 'api://${apiClientId}'
    notifyWebhook: notifyWebhook
    approvalWebhook: approvalWebhook
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output FUNCTION_APP_NAME string = app.outputs.name
output API_BASE_URL string = 'https://${app.outputs.defaultHostName}'
output APP_PRINCIPAL_ID string = identity.outputs.principalId
output RUNBOOK_PRINCIPAL_ID string = runbook.outputs.principalId
output VAULT_ACCOUNT_NAME string = storage.outputs.vaultAccountName
output DURABLE_BACKEND string = durableBackend
