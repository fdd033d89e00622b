"""Composition root of the Functions app: build the DFApp and register each blueprint.

No logic lives here; the engine (`entra_backup`) does the work and the blueprints in `api/`,
`orchestrators/` and `activities/` are thin doors into it.
"""

import azure.durable_functions as df
import azure.functions as func

from activities.recovery import bp as recovery_activities_bp
from api.backups import bp as backups_bp
from api.health import bp as health_bp
from api.recoveries import bp as recoveries_bp
from api.reports import bp as reports_bp
from orchestrators.recovery import bp as recovery_bp
from orchestrators.tenant_job import bp as tenant_job_bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health_bp)
app.register_functions(backups_bp)
app.register_functions(reports_bp)
app.register_functions(recoveries_bp)
app.register_functions(tenant_job_bp)
app.register_functions(recovery_bp)
app.register_functions(recovery_activities_bp)
