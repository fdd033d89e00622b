"""Composition root of the Functions app: build the DFApp and register each blueprint.

No logic lives here; the engine (`entra_backup`) does the work and the blueprints in `api/`,
`orchestrators/` and `activities/` are thin doors into it.
"""

import azure.durable_functions as df
import azure.functions as func

from activities.capture import bp as capture_activities_bp
from activities.diff import bp as diff_activities_bp
from activities.recovery import bp as recovery_activities_bp
from api.backups import bp as backups_bp
from api.health import bp as health_bp
from api.recoveries import bp as recoveries_bp
from api.reports import bp as reports_bp
from orchestrators.diff_report import bp as diff_report_bp
from orchestrators.recovery import bp as recovery_bp
from orchestrators.schedule import bp as schedule_bp
from orchestrators.snapshot import bp as snapshot_bp
from orchestrators.tenant_job import bp as tenant_job_bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health_bp)
app.register_functions(backups_bp)
app.register_functions(reports_bp)
app.register_functions(recoveries_bp)
app.register_functions(tenant_job_bp)
app.register_functions(recovery_bp)
app.register_functions(recovery_activities_bp)
app.register_functions(snapshot_bp)
app.register_functions(capture_activities_bp)
app.register_functions(diff_report_bp)
app.register_functions(diff_activities_bp)
app.register_functions(schedule_bp)
