"""The organization object: a collection of exactly one, keyed by the tenant id."""

from entra_backup.kinds.base import Kind, Permissions

ORGANIZATION = Kind(
    name="organization",
    path="organization",
    select=(),
    soft_delete=False,
    volatile=frozenset({"onPremisesLastSyncDateTime"}),
    # the rest of the organization object is managed by Microsoft (domains, plans, sync)
    writable=frozenset({"marketingNotificationEmails", "privacyProfile",
                        "securityComplianceNotificationMails",
                        "securityComplianceNotificationPhones", "technicalNotificationMails"}),
    on_created="report",
    rank=5,
    permissions=Permissions(read="Organization.Read.All", write="Organization.ReadWrite.All"),
)
