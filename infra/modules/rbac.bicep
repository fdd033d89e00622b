// Every Azure role the app's managed identity holds - this list, nothing broader (no
// subscription or resource-group roles, no control-plane roles). tests/infra checks it.
//   runtime account  Storage Blob Data Owner        AzureWebJobsStorage: the host's leases, timer
//                                                   status and Flex deployment package (the host
//                                                   docs ask for Owner)
//   runtime account  Storage Queue Data Contributor  only with durableBackend 'azureStorage'
//   runtime account  Storage Table Data Contributor    (rbac-azure-storage.bicep)
//   vault account    Storage Blob Data Owner        snapshots/reports/staging/archive: writing a
//                                                   blob version with its own immutability
//                                                   policy is not among Contributor's data actions
//   vault account    Storage Table Data Contributor the job store (recoveryJobs/recoveryResults)
//   task hub         Durable Task Data Contributor  only with durableBackend 'dts'; scoped to the
//                                                   hub, not the scheduler (rbac-dts.bicep)
//   App Insights     Monitoring Metrics Publisher   telemetry with local auth off
// Role ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
// Identity-based host storage: https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
// Durable Task Scheduler identity: https://learn.microsoft.com/azure/durable-task/scheduler/durable-task-scheduler-identity
param principalId string
param runtimeAccountName string
param vaultAccountName string
param insightsName string

var blobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var tableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource runtime 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: runtimeAccountName
}

resource vault 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: vaultAccountName
}

resource insights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: insightsName
}

resource runtimeBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(runtime.id, principalId, blobDataOwner)
  scope: runtime
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataOwner)
  }
}

resource vaultBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, blobDataOwner)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataOwner)
  }
}

resource vaultTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, tableDataContributor)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributor)
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, principalId, monitoringMetricsPublisher)
  scope: insights
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}
