// The Durable Task Scheduler's data role for the app's identity, scoped to its task hub (not
// the whole scheduler). Deployed only with durableBackend 'dts' (the module call is
// conditional; nothing in here is). Role list: rbac.bicep.
// https://learn.microsoft.com/azure/durable-task/scheduler/durable-task-scheduler-identity
param principalId string
param schedulerName string
param taskHubName string

var durableTaskDataContributor = '0ad04412-c4d5-4796-b79c-f76d14c8d402'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' existing = {
  name: schedulerName
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' existing = {
  parent: scheduler
  name: taskHubName
}

resource hubContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(taskHub.id, principalId, durableTaskDataContributor)
  scope: taskHub
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributor)
  }
}
