"""`GET /api/health`: the app is up and knows which engine version it runs."""

import json

import azure.functions as func

from entra_backup import __version__

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    del req
    body = {"status": "ok", "engineVersion": __version__}
    return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")
