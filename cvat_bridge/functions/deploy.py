"""Deploying a model version as a Nuclio function for CVAT, removing it, and its recorded state.

``start_deployment`` records the model's ``Deployment`` as ``deploying`` and queues a "deploy" job;
``run_deploy_job`` sends the function configuration to the Nuclio dashboard (project ``cvat``), with the code
as an ``archive`` code entry: Nuclio downloads the model's function zip from this service
(``<public_url>/api/models/<id>/function.zip``, with the model's download token in the download headers: it
opens that zip and nothing else; the dashboard never sees the API token), builds the image
and starts it. The job polls until the function is ready or failed (bounded), then removes the other
deployed versions of the same model (deploying an older version is how one rolls back) and asks CVAT, when
configured, whether it lists the function.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from cvat_bridge.auth import ensure_api_token, model_download_token
from cvat_bridge.db import Deployment, Job, Model, iso_utc, utcnow
from cvat_bridge.errors import BadRequest, Conflict, DomainError, NotFound
from cvat_bridge.functions.nuclio import NuclioDashboard
from cvat_bridge.functions.render import (
    VARIANTS,
    ZIPS,
    FunctionSource,
    function_config,
    function_name,
    load_source,
    variant_function_name,
)
from cvat_bridge.jobs.queue import start_job
from cvat_bridge.jobs.runner import JobCancelled, JobContext, JobError
from cvat_bridge.services import Services
from cvat_bridge.settings import Settings

DEPLOY_TIMEOUT_SECONDS = 30 * 60  # a first build pulls the base image and installs onnxruntime or torch
POLL_SECONDS = 1.0
FAILED_STATES = ("error", "unhealthy")
ACTIVE_JOB_STATES = ("queued", "running")


class DeploymentConflict(Conflict):
    """The request does not fit the current state (Nuclio not configured, a deployment under way, ...)."""


def nuclio_dashboard(settings: Settings) -> NuclioDashboard:
    if not settings.nuclio_url:
        raise DeploymentConflict(
            "Nuclio is not configured: set CVAT_BRIDGE_NUCLIO_URL to the Nuclio dashboard CVAT uses "
            "(e.g. http://nuclio:8070 in CVAT's compose network), or download the function zip and deploy it "
            "with nuctl"
        )
    return NuclioDashboard(settings.nuclio_url)


def deployment_state(services: Services, model_id: int) -> dict[str, Any]:
    """The model's deployment as the API shows it (state ``not_deployed`` when it never was)."""
    job = _latest_deploy_job(services, model_id)
    with services.db.session() as session:
        row = session.get(Deployment, model_id)
        model = session.get(Model, model_id)
        state = {
            "model_id": model_id,
            "function_name": row.function_name if row else None,
            # the folder in the CPU function's zip (for `nuctl deploy --path`)
            "function_folder": function_name(model.name, model.version) if model else None,
            "state": row.state if row else "not_deployed",
            "message": row.message if row else None,
            "in_cvat": row.in_cvat if row else None,
            "updated_at": iso_utc(row.updated_at) if row else None,
            "nuclio_configured": bool(services.settings.nuclio_url),
            "public_url_configured": bool(services.settings.public_url),
            "job": None,
        }
    if job is not None:
        state["job"] = {"id": job.id, "status": job.status, "progress": job.progress, "error": job.error}
        if state["state"] == "deploying" and job.status not in ACTIVE_JOB_STATES + ("succeeded",):
            state["state"], state["message"] = "error", job.error or f"the deploy job {job.status}"
    return state


def start_deployment(services: Services, model_id: int, variant: str = "cpu") -> dict:
    """Queue the deployment of a model version. Nuclio downloads the function zip from
    CVAT_BRIDGE_PUBLIC_URL only (never from an address taken from a request: its Host header is the
    client's to choose, and the download token goes there)."""
    if variant not in VARIANTS:
        raise BadRequest(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    nuclio_dashboard(services.settings)  # refuse early when Nuclio is not configured
    archive_base_url = services.settings.public_url
    if not archive_base_url:
        raise DeploymentConflict(
            "CVAT_BRIDGE_PUBLIC_URL is not set: set it to this service's URL as the Nuclio dashboard reaches "
            "it (e.g. http://cvat-bridge:8000 in CVAT's compose network), then deploy again"
        )
    source = load_source(services, model_id)
    if deployment_state(services, model_id)["state"] == "deploying":
        raise DeploymentConflict(f"model {model_id} is being deployed already; wait for it to finish")
    name = variant_function_name(source, variant)
    with services.db.session() as session:
        row = session.get(Deployment, model_id)
        previous = row.function_name if row is not None and row.state != "removed" else None
        if row is None:
            row = Deployment(model_id=model_id, function_name=name, state="deploying")
            session.add(row)
        row.function_name, row.state, row.in_cvat = name, "deploying", None
        row.message, row.updated_at = "waiting for a worker", utcnow()
    start_job(
        services,
        "deploy",
        {
            "model_id": model_id,
            "variant": variant,
            "archive_url": f"{archive_base_url.rstrip('/')}/api/models/{model_id}/{ZIPS[variant]}",
            "previous_function": previous if previous != name else None,
        },
    )
    return deployment_state(services, model_id)


def run_deploy_job(ctx: JobContext) -> dict[str, Any]:
    """The "deploy" job: send the function to Nuclio, wait for it, retire other versions, check CVAT."""
    services, params = ctx.services, ctx.params
    model_id = int(params["model_id"])
    try:
        source = load_source(services, model_id)
        config = function_config(source, params["variant"], services.settings.inference_threads)
        name = config["metadata"]["name"]
        config["spec"]["build"].update(
            codeEntryType="archive",
            path=params["archive_url"],
            # The zip holds one folder, named as the function: Nuclio builds from there.
            codeEntryAttributes={"headers": _download_headers(services, model_id), "workDir": f"/{name}"},
        )
        with nuclio_dashboard(services.settings) as dashboard:
            _record(services, model_id, "deploying", f"Nuclio is building {name}")
            ctx.report(step="submitting", function=name)
            dashboard.deploy(config)
            status = _wait_until_settled(ctx, dashboard, name)
            if status.get("state") != "ready":
                reason = status.get("message") or f"state {status.get('state')}"
                raise JobError(f"Nuclio could not deploy {name}: {reason}")
            previous = params.get("previous_function")
            replaced = _retire_other_versions(services, dashboard, source, name, previous)
    except (JobError, DomainError) as exc:
        _record(services, model_id, "error", str(exc))
        raise JobError(str(exc)) from exc
    except JobCancelled:
        _record(services, model_id, "error", "deployment cancelled; Nuclio may still hold the function")
        raise
    in_cvat, note = function_in_cvat(services.settings, name)
    message = f"{name} is ready in Nuclio project cvat" + (f"; {note}" if note else "")
    if replaced:
        message += f"; replaced {', '.join(replaced)}"
    _record(services, model_id, "ready", message, in_cvat)
    return {"function_name": name, "state": "ready", "in_cvat": in_cvat, "replaced": replaced}


def remove_deployment(services: Services, model_id: int) -> dict[str, Any]:
    """Delete the model's function from Nuclio and record it as removed."""
    state = deployment_state(services, model_id)
    if state["state"] in ("not_deployed", "removed"):
        raise NotFound(f"model {model_id} is not deployed")
    if state["state"] == "deploying":
        raise DeploymentConflict(f"model {model_id} is being deployed; wait for it to finish, then remove it")
    with nuclio_dashboard(services.settings) as dashboard:
        existed = dashboard.delete_function(state["function_name"])
    note = "removed from Nuclio" if existed else "Nuclio no longer had it"
    _record(services, model_id, "removed", f"{state['function_name']}: {note}", in_cvat=False)
    return deployment_state(services, model_id)


def function_in_cvat(settings: Settings, name: str) -> tuple[bool | None, str | None]:
    """Whether CVAT's ``GET /api/lambda/functions`` lists the function (None when CVAT is not configured)."""
    if not settings.cvat_url:
        return None, None
    from cvat_bridge.cvat.client import CvatError, call, connect

    try:
        with connect(settings) as client:
            _, response = call(
                "list CVAT's functions",
                lambda: client.api_client.lambda_api.list_functions(_parse_response=False),
            )
            listed = {item["id"] for item in json.loads(response.data)}
    except CvatError as exc:
        return None, f"could not ask CVAT whether it lists the function: {exc}"
    if name in listed:
        return True, "CVAT lists it for automatic annotation"
    return False, "CVAT does not list it: check that CVAT's CVAT_NUCLIO_* settings point at this dashboard"


def _wait_until_settled(ctx: JobContext, dashboard: NuclioDashboard, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEPLOY_TIMEOUT_SECONDS
    while True:
        ctx.check_cancelled()
        function = dashboard.get_function(name)
        status = (function or {}).get("status") or {}
        state = status.get("state", "waiting")
        ctx.report(step="building", nuclio_state=state)
        if state == "ready" or state in FAILED_STATES:
            return status
        if time.monotonic() > deadline:
            raise JobError(f"{name} was not ready in time (Nuclio says {state}); see the dashboard's logs")
        time.sleep(POLL_SECONDS)


def _retire_other_versions(
    services: Services, dashboard: NuclioDashboard, source: FunctionSource, name: str, previous: str | None
) -> list[str]:
    """Remove the functions of the model's other versions (and its own previous variant): one per model."""
    with services.db.session() as session:
        others = session.execute(
            select(Deployment.model_id, Deployment.function_name)
            .join(Model, Model.id == Deployment.model_id)
            .where(Model.name == source.name, Model.id != source.model_id)
            .where(Deployment.state.in_(("ready", "error")))
        ).all()
    replaced = []
    for other_id, other_name in others:
        dashboard.delete_function(other_name)
        note = f"replaced by version {source.version} ({name})"
        _record(services, other_id, "removed", note, in_cvat=False)
        replaced.append(other_name)
    if previous and previous != name:
        dashboard.delete_function(previous)
        replaced.append(previous)
    return replaced


def _record(services: Services, model_id: int, state: str, message: str, in_cvat: bool | None = None) -> None:
    with services.db.session() as session:
        row = session.get(Deployment, model_id)
        row.state, row.message, row.in_cvat, row.updated_at = state, message, in_cvat, utcnow()


def _download_headers(services: Services, model_id: int) -> dict[str, str]:
    """What Nuclio sends to download the zip: the model's download token, never the API token."""
    api_token, _ = ensure_api_token(services.settings, services.storage.token_file)
    token = model_download_token(services.db, api_token, model_id)
    if token is None:
        raise JobError(f"model {model_id} was deleted")
    return {"Authorization": f"Bearer {token}"}


def _latest_deploy_job(services: Services, model_id: int) -> Job | None:
    with services.db.session() as session:
        jobs = session.scalars(select(Job).where(Job.kind == "deploy").order_by(Job.created_at.desc()))
        return next((job for job in jobs if job.params.get("model_id") == model_id), None)
