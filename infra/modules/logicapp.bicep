// The incident runbook: a Consumption Logic App whose definition is infra/logicapp/runbook.json.
// It calls the API with its system-assigned managed identity (HTTP action authentication
// ManagedServiceIdentity with the API's audience); infra/grant_permissions.py gives that
// identity the API's Backup.Administrator app role.
// https://learn.microsoft.com/azure/templates/microsoft.logic/workflows
// https://learn.microsoft.com/azure/logic-apps/authenticate-with-managed-identity
// Async polling of 202 + Location: https://learn.microsoft.com/azure/connectors/connectors-native-http
param location string
param tags object
param name string
param apiBaseUrl string
param apiAudience string
param notifyWebhook string
param approvalWebhook string

resource workflow 'Microsoft.Logic/workflows@2019-05-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    state: 'Enabled'
    definition: loadJsonContent('../logicapp/runbook.json')
    parameters: {
      apiBaseUrl: {
        value: apiBaseUrl
      }
      apiAudience: {
        value: apiAudience
      }
      notifyWebhook: {
        value: notifyWebhook
      }
      approvalWebhook: {
        value: approvalWebhook
      }
    }
  }
}

output principalId string = workflow.identity.principalId
output name string = workflow.name
