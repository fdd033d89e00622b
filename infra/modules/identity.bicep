// The app's user-assigned managed identity: it exists before the app, so its role
// assignments are in place when the host first starts, and the Durable Task Scheduler
// connection names it by client id (Authentication=ManagedIdentity;ClientID=...).
// https://learn.microsoft.com/azure/templates/microsoft.managedidentity/userassignedidentities
param location string
param tags object
param name string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
