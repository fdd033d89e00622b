// The Azure Storage Durable backend keeps its control queues and history tables in the
// runtime account: queue and table data roles there, only with durableBackend 'azureStorage'
// (the module call is conditional; nothing in here is). Role list: rbac.bicep.
// https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-azure-storage-provider
param principalId string
param runtimeAccountName string

var queueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var tableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

resource runtime 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: runtimeAccountName
}

resource runtimeQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(runtime.id, principalId, queueDataContributor)
  scope: runtime
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueDataContributor)
  }
}

resource runtimeTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(runtime.id, principalId, tableDataContributor)
  scope: runtime
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributor)
  }
}
