// Two storage accounts, both reachable only with Entra ID (shared key off, so no account key
// or SAS works anywhere), TLS 1.2, HTTPS only, no anonymous blob access:
// - runtime: the Functions host (AzureWebJobsStorage: leases, timer status, the Flex deployment
//   package; queues and tables too when Durable runs on Azure Storage);
// - vault: what the backups promise. Versioning on; version-level WORM on `snapshots` and
//   `reports` with a default policy of `retentionDays`, on `archive` of `archiveDays`; the engine also sets
//   each blob version's own expiry (ENTRA_BACKUP_RETENTION_DAYS, the same number); a
//   lifecycle rule deletes them after that same number of days and cleans `staging`.
// No resource here is conditional or looped: checkov's parser nests a conditional resource's
// body one level down and its checks would not see it (tests/infra asserts this).
// Keeping the host's churn (leases, queues) out of the vault lets the vault be versioned and
// immutable without the host ever writing into it.
// Shapes: https://learn.microsoft.com/azure/templates/microsoft.storage/storageaccounts
// Version-level WORM: https://learn.microsoft.com/azure/storage/blobs/immutable-version-level-worm-policies
// Lifecycle: https://learn.microsoft.com/azure/storage/blobs/lifecycle-management-overview
param location string
param tags object
param runtimeAccountName string
param vaultAccountName string
param deploymentContainerName string
param retentionDays int
param archiveDays int

// ---------------------------------------------------------------- runtime (host) account
resource runtime 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: Flex Consumption without a virtual network reaches storage over its public endpoint; access is Entra-only (shared key off), a deny-by-default firewall would lock the app out
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35 (private endpoints need VNet integration, an optional hardening step in docs/operations.md)
  // checkov:skip=CKV_AZURE_43: the name is a parameter; main.bicep builds it as 'st' + 'rt'/'vault' + a 13-character lowercase uniqueString token (3-24 lowercase letters and digits)
  // checkov:skip=CKV_AZURE_206: the runtime account holds only disposable host state (leases, timer status, the deployment package azd re-uploads); zone-redundant is enough
  name: runtimeAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_ZRS'
  }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      requireInfrastructureEncryption: true
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource runtimeBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: runtime
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: runtimeBlobs
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// ---------------------------------------------------------------- vault account
resource vault 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: Flex Consumption without a virtual network reaches storage over its public endpoint; access is Entra-only (shared key off), a deny-by-default firewall would lock the app out
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35 (private endpoints need VNet integration, an optional hardening step in docs/operations.md)
  // checkov:skip=CKV_AZURE_43: the name is a parameter; main.bicep builds it as 'st' + 'rt'/'vault' + a 13-character lowercase uniqueString token (3-24 lowercase letters and digits)
  name: vaultAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    // geo-redundant: the backups outlive a regional outage
    name: 'Standard_GRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      requireInfrastructureEncryption: true
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource vaultBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: vault
  name: 'default'
  properties: {
    // version-level WORM needs versioning; soft delete is on before immutability, as the
    // immutability docs recommend
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource snapshots 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: vaultBlobs
  name: 'snapshots'
  properties: {
    publicAccess: 'None'
    immutableStorageWithVersioning: {
      enabled: true
    }
  }
}

resource snapshotsPolicy 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  parent: snapshots
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: retentionDays
    allowProtectedAppendWrites: false
  }
}

resource reports 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: vaultBlobs
  name: 'reports'
  properties: {
    publicAccess: 'None'
    immutableStorageWithVersioning: {
      enabled: true
    }
  }
}

resource reportsPolicy 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  parent: reports
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: retentionDays
    allowProtectedAppendWrites: false
  }
}

// Recovery and rebuild plans: written once, read wave by wave; working files, not evidence
// (the history is in the tables), so no WORM.
resource recoveries 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: vaultBlobs
  name: 'recoveries'
  properties: {
    publicAccess: 'None'
  }
}

resource staging 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: vaultBlobs
  name: 'staging'
  properties: {
    publicAccess: 'None'
  }
}

resource archive 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: vaultBlobs
  name: 'archive'
  properties: {
    publicAccess: 'None'
    immutableStorageWithVersioning: {
      enabled: true
    }
  }
}

resource archivePolicy 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  parent: archive
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: archiveDays
    allowProtectedAppendWrites: false
  }
}

var expiryRules = [
  {
    enabled: true
    name: 'expire-snapshots'
    type: 'Lifecycle'
    definition: {
      filters: {
        blobTypes: [
          'blockBlob'
        ]
        prefixMatch: [
          'snapshots/'
        ]
      }
      actions: {
        baseBlob: {
          delete: {
            daysAfterCreationGreaterThan: retentionDays
          }
        }
        version: {
          delete: {
            daysAfterCreationGreaterThan: retentionDays
          }
        }
      }
    }
  }
  {
    enabled: true
    name: 'expire-reports'
    type: 'Lifecycle'
    definition: {
      filters: {
        blobTypes: [
          'blockBlob'
        ]
        prefixMatch: [
          'reports/'
        ]
      }
      actions: {
        baseBlob: {
          delete: {
            daysAfterCreationGreaterThan: retentionDays
          }
        }
        version: {
          delete: {
            daysAfterCreationGreaterThan: retentionDays
          }
        }
      }
    }
  }
  {
    enabled: true
    name: 'clean-staging'
    type: 'Lifecycle'
    definition: {
      filters: {
        blobTypes: [
          'blockBlob'
        ]
        prefixMatch: [
          'staging/'
        ]
      }
      actions: {
        baseBlob: {
          delete: {
            daysAfterModificationGreaterThan: 1
          }
        }
        version: {
          delete: {
            daysAfterCreationGreaterThan: 1
          }
        }
      }
    }
  }
]

var archiveRules = [
  {
    enabled: true
    name: 'archive-cool-then-expire'
    type: 'Lifecycle'
    definition: {
      filters: {
        blobTypes: [
          'blockBlob'
        ]
        prefixMatch: [
          'archive/'
        ]
      }
      actions: {
        baseBlob: {
          tierToCool: {
            daysAfterModificationGreaterThan: 0
          }
          delete: {
            daysAfterCreationGreaterThan: archiveDays
          }
        }
        version: {
          tierToCool: {
            daysAfterCreationGreaterThan: 0
          }
          delete: {
            daysAfterCreationGreaterThan: archiveDays
          }
        }
      }
    }
  }
]

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: vault
  name: 'default'
  properties: {
    policy: {
      rules: concat(expiryRules, archiveRules)
    }
  }
  dependsOn: [
    snapshots
    reports
    staging
    archive
  ]
}

resource vaultTables 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: vault
  name: 'default'
}

// the job store's tables (entra_backup/jobs/table.py: `{prefix}Jobs`, `{prefix}Results`)
resource jobsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: vaultTables
  name: 'recoveryJobs'
}

resource resultsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: vaultTables
  name: 'recoveryResults'
}

output runtimeAccountName string = runtime.name
output vaultAccountName string = vault.name
output deploymentContainerUrl string = '${runtime.properties.primaryEndpoints.blob}${deploymentContainer.name}'
output vaultBlobEndpoint string = vault.properties.primaryEndpoints.blob
