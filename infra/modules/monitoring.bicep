// Log Analytics workspace and a workspace-based Application Insights component with local
// (instrumentation-key) auth off: the app sends telemetry with its managed identity
// (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) and the Monitoring Metrics Publisher role.
// https://learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication
// https://learn.microsoft.com/azure/templates/microsoft.insights/components
param location string
param tags object
param workspaceName string
param insightsName string

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    features: {
      disableLocalAuth: true
    }
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: insightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

output insightsName string = insights.name
output connectionString string = insights.properties.ConnectionString
