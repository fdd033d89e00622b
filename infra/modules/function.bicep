// The Function App on Flex Consumption (Linux, FC1), Python 3.11 as pyproject/.venv pin it,
// running as the user-assigned identity. No connection string carries a key: host storage,
// the vault, the Durable Task Scheduler and App Insights are all reached with the identity.
// Flex resource shape (functionAppConfig replaces FUNCTIONS_WORKER_RUNTIME / linuxFxVersion,
// which Flex rejects): https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to
// https://learn.microsoft.com/azure/templates/microsoft.web/sites
// Identity-based AzureWebJobsStorage (__accountName/__credential/__clientId):
// https://learn.microsoft.com/azure/azure-functions/functions-reference#common-properties-for-identity-based-connections
// Durable Task Scheduler connection string with a user-assigned identity:
// https://learn.microsoft.com/azure/durable-task/scheduler/durable-task-scheduler-identity
param location string
param tags object
param planName string
param appName string
param identityId string
param identityClientId string
param runtimeAccountName string
param deploymentContainerUrl string
param vaultBlobEndpoint string
param insightsConnectionString string
param durableBackend string
param durableEndpoint string
param taskHubName string
param retentionDays int
param archiveDays int
param archiveEnabled bool
param apiClientId string
param protectedTenants string
param breakGlass string
param driftWebhook string
param platformAuth bool

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex zone redundancy exists only in some regions and needs two always-ready instances; a daily backup job (RPO 24 h) does not need it
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the API must be reachable by the Consumption Logic App, which has no private networking; every route but /api/health requires an Entra token
  // checkov:skip=CKV_AZURE_17: callers authenticate with Entra bearer tokens (managed identities cannot present client certificates)
  // checkov:skip=CKV_AZURE_212: Flex Consumption has no worker count; failover capacity is its always-ready instance plus on-demand scale-out
  // checkov:skip=CKV_AZURE_213: App Service health check probes instances of a dedicated plan; Flex replaces unhealthy instances itself, and /api/health serves operators and the runbook
  name: appName
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        // one warm instance for orchestrations, activities and entities (the `durable` group)
        alwaysReady: [
          {
            name: 'durable'
            instanceCount: 1
          }
        ]
        // Graph's write budget, not compute, bounds a recovery; 40 is Flex's lowest maximum
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

var storageSettings = {
  AzureWebJobsStorage__accountName: runtimeAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
}

var durableSettings = durableBackend == 'dts' ? {
  DURABLE_BACKEND: 'dts'
  DURABLE_TASK_HUB: taskHubName
  DURABLE_TASK_SCHEDULER_CONNECTION: 'Endpoint=${durableEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
} : {
  DURABLE_BACKEND: 'azureStorage'
  DURABLE_TASK_HUB: taskHubName
  // host.json names the scheduler literally (no %SETTING% in storageProvider.type); these
  // host overrides turn it into the Azure Storage provider (docs/functions.md)
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'AzureStorage'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'AzureWebJobsStorage'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval: '00:00:10'
}

var archiveSettings = archiveEnabled ? {
  ENTRA_BACKUP_ARCHIVE: '${vaultBlobEndpoint}archive'
  ENTRA_BACKUP_ARCHIVE_DAYS: string(archiveDays)
} : {}

var appSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: insightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // DefaultAzureCredential picks the user-assigned identity by this id
  AZURE_CLIENT_ID: identityClientId
  ENTRA_BACKUP_STORE: '${vaultBlobEndpoint}snapshots'
  ENTRA_BACKUP_TENANTS: protectedTenants
  ENTRA_BACKUP_RETENTION_DAYS: string(retentionDays)
  ENTRA_BACKUP_WORM: 'locked'
  ENTRA_BACKUP_HISTORY_DAYS: '365'
  ENTRA_BACKUP_BREAK_GLASS: breakGlass
  ENTRA_BACKUP_DRIFT_WEBHOOK: driftWebhook
  SNAPSHOT_SCHEDULE: '0 0 23 * * *'
  RETENTION_SCHEDULE: '0 30 23 * * *'
  // always set: the host resolves every timer's %SCHEDULE% at start (no archive: a no-op run)
  ARCHIVE_SCHEDULE: '0 0 1 * * 0'
  // v2 access tokens (the app registration sets requestedAccessTokenVersion 2): aud = client id
  ENTRA_BACKUP_API_AUDIENCE: apiClientId
  ENTRA_BACKUP_API_TENANT_ID: tenant().tenantId
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: a sites/config child resource, not a site; checkov runs its web-app checks on it (the site's own CKV_AZURE_13 passes, and this resource is the authentication)
  // checkov:skip=CKV_AZURE_63: a sites/config child resource, not a site (checkov applies site checks to it); Flex sends logs to Application Insights, not App Service HTTP logs
  // checkov:skip=CKV_AZURE_65: a sites/config child resource, not a site (checkov applies site checks to it); detailed error pages are App Service file logs Flex does not have
  // checkov:skip=CKV_AZURE_66: a sites/config child resource, not a site (checkov applies site checks to it); failed request tracing is an App Service file log Flex does not have
  // checkov:skip=CKV_AZURE_80: a sites/config child resource, not a site (checkov applies site checks to it); the app is Python, no .NET Framework
  // checkov:skip=CKV_AZURE_88: a sites/config child resource, not a site (checkov applies site checks to it); Flex has no Azure Files content share
  // checkov:skip=CKV_AZURE_222: a sites/config child resource, not a site (checkov applies site checks to it); public access is decided on the site (see its skip)
  parent: site
  name: 'appsettings'
  properties: union(storageSettings, durableSettings, archiveSettings, appSettings)
}

// App Service Authentication in front of every route but /api/health: a caller needs an Entra
// token for this API; the app still checks the roles claim itself (and validates tokens itself
// when WEBSITE_AUTH_ENABLED is not set). Bearer validation only, so no client secret exists.
// The 2024 Flex preview page said EasyAuth was unsupported; current Flex apps use
// authsettingsV2 (e.g. learntocloud/learn-to-cloud-app PR #694, 2026-07) - verify in the region.
// https://learn.microsoft.com/azure/app-service/configure-authentication-api-version
// https://learn.microsoft.com/azure/templates/microsoft.web/sites/config-authsettingsv2
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: a sites/config child resource, not a site; checkov runs its web-app checks on it (the site's own CKV_AZURE_13 passes, and this resource is the authentication)
  // checkov:skip=CKV_AZURE_63: a sites/config child resource, not a site (checkov applies site checks to it); Flex sends logs to Application Insights, not App Service HTTP logs
  // checkov:skip=CKV_AZURE_65: a sites/config child resource, not a site (checkov applies site checks to it); detailed error pages are App Service file logs Flex does not have
  // checkov:skip=CKV_AZURE_66: a sites/config child resource, not a site (checkov applies site checks to it); failed request tracing is an App Service file log Flex does not have
  // checkov:skip=CKV_AZURE_80: a sites/config child resource, not a site (checkov applies site checks to it); the app is Python, no .NET Framework
  // checkov:skip=CKV_AZURE_88: a sites/config child resource, not a site (checkov applies site checks to it); Flex has no Azure Files content share
  // checkov:skip=CKV_AZURE_222: a sites/config child resource, not a site (checkov applies site checks to it); public access is decided on the site (see its skip)
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: platformAuth
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: [
        '/api/health'
      ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: apiClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            apiClientId
            'api://${apiClientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

// Deployment goes through Entra ID (azd uses OneDeploy with a token); no basic-auth publishing.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
