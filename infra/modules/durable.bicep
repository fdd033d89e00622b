// Durable Task Scheduler, Consumption SKU (GA 2026-03-31), and the app's task hub. Reached
// with the managed identity only (no keys exist for it); the role is in rbac.bicep.
// Resource shape: https://learn.microsoft.com/azure/templates/microsoft.durabletask/schedulers
// ipAllowlist must not be empty (an empty list denies all traffic):
// https://github.com/Azure-Samples/Durable-Task-Scheduler (samples/*/infra/app/dts.bicep)
param location string
param tags object
param schedulerName string
param taskHubName string

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: schedulerName
  location: location
  tags: tags
  properties: {
    // Flex Consumption without a virtual network has no fixed outbound addresses; access is
    // still identity-only (Durable Task Data Contributor on the task hub).
    ipAllowlist: [
      '0.0.0.0/0'
    ]
    sku: {
      name: 'Consumption'
    }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

output schedulerName string = scheduler.name
output taskHubName string = taskHub.name
output endpoint string = scheduler.properties.endpoint
