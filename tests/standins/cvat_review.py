"""What the closed loop needs from the CVAT stand-in, shaped like flows 11-13 of the recordings: users,
task creation from uploaded frames (Upload-Start / Upload-Multiple / Upload-Finish, then the background
request), a job's state, stage and assignee (with CVAT's derived statuses), job annotations, and project
webhooks whose deliveries are POSTed, signed, from a sender thread after the change (as CVAT's ``webhooks``
worker does).

Imported by ``tests/standins/cvat.py`` at its end (import that module, never this one first).

    cvat.webhooks.wait_idle()      # every queued delivery has been sent
    cvat.webhooks.sent             # [(event, status answered, raw body)] in order
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI, Request, Response
from PIL import Image

if TYPE_CHECKING:
    from tests.standins.cvat import CvatStandin, Task

# The events CVAT 2.73 offers a project webhook (recorded: flow 11 seq 4), in its order.
PROJECT_EVENTS = (
    ("create:task", "Task"),
    ("update:task", "Task"),
    ("delete:task", "Task"),
    ("create:job", "Job"),
    ("update:job", "Job"),
    ("delete:job", "Job"),
    ("create:issue", "Issue"),
    ("update:issue", "Issue"),
    ("delete:issue", "Issue"),
    ("create:comment", "Comment"),
    ("update:comment", "Comment"),
    ("delete:comment", "Comment"),
    ("completed:request[export:annotations]", "Request"),
    ("completed:request[export:dataset]", "Request"),
    ("completed:request[export:backup]", "Request"),
    ("completed:request[create:task]", "Request"),
    ("completed:request[merge:task]", "Request"),
    ("completed:request[merge:job]", "Request"),
    ("completed:request[calculate:quality]", "Request"),
    ("update:project", "Project"),
    ("delete:project", "Project"),
)
EXTRA_ALL_EVENTS = (
    ("create:project", "Project"),
    ("update:organization", "Organization"),
    ("create:invitation", "Invitation"),
    ("delete:invitation", "Invitation"),
    ("create:membership", "Membership"),
    ("update:membership", "Membership"),
    ("delete:membership", "Membership"),
)
USER_AGENT = "CVAT/2.73.0 python-requests/2.33.1"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def signature(secret: str, body: bytes) -> str:
    """CVAT's X-Signature-256 of a delivery (verified on every recorded delivery, 11b)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def request_for(base: str) -> Request:
    """A request object whose Host gives ``base`` (payloads are built with the URLs of the API request)."""
    host = base.split("://", 1)[1]
    scope = {"type": "http", "scheme": "http", "headers": [(b"host", host.encode())], "path": "/"}
    return Request(scope)


class WebhookHub:
    """The stand-in's webhooks, their deliveries and the sender thread."""

    def __init__(self, standin: CvatStandin) -> None:
        self.standin = standin
        self.hooks: dict[int, dict[str, Any]] = {}
        self.deliveries: dict[int, dict[str, Any]] = {}
        self.sent: list[tuple[str, int, bytes]] = []  # (event, status answered, raw body) in order
        self._ids = {"webhook": 1, "delivery": 1}
        self._queue: queue.Queue[tuple[int, str, dict[str, Any], str, bool]] = queue.Queue()
        self._lock = threading.Lock()
        threading.Thread(target=self._send_forever, daemon=True, name="cvat-webhooks").start()

    def _new_id(self, kind: str) -> int:
        with self._lock:
            value = self._ids[kind]
            self._ids[kind] += 1
            return value

    # ---- what the API stores ------------------------------------------------------------------------
    def create(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        hook_id = self._new_id("webhook")
        self.hooks[hook_id] = {
            "id": hook_id,
            "target_url": body["target_url"],
            "description": body.get("description", ""),
            "type": body.get("type", "project"),
            "content_type": body.get("content_type", "application/json"),
            "is_active": body.get("is_active", True),
            "enable_ssl": body.get("enable_ssl", True),
            "created_date": _now(),
            "updated_date": _now(),
            "project_id": body.get("project_id"),
            "organization": None,
            "events": sorted(body.get("events", [])),
            "secret": body.get("secret", ""),
        }
        return self.hook_json(request, self.hooks[hook_id])

    def hook_json(self, request: Request, hook: dict[str, Any]) -> dict[str, Any]:
        """WebhookRead: no secret; last_status/last_delivery_date absent until the first delivery."""
        base = f"{request.url.scheme}://{request.headers['host']}"
        data = {"id": hook["id"], "url": f"{base}/api/webhooks/{hook['id']}"}
        for key in ("target_url", "description", "type", "content_type", "is_active", "enable_ssl"):
            data[key] = hook[key]
        data.update(
            created_date=hook["created_date"],
            updated_date=hook["updated_date"],
            owner=self.standin.user_json(request, 1),
            project_id=hook["project_id"],
            organization=None,
            events=hook["events"],
        )
        if "last" in hook:
            data["last_status"], data["last_delivery_date"] = hook["last"]
        return data

    def hook(self, hook_id: int) -> dict[str, Any]:
        from tests.standins.cvat import CvatError

        if hook_id not in self.hooks:
            raise CvatError(404, {"detail": "No Webhook matches the given query."})
        return self.hooks[hook_id]

    # ---- events -------------------------------------------------------------------------------------
    def changed(self, kind: str, task: Task, before: dict[str, Any]) -> None:
        """update:task (and update:project for annotation writes) with the fields that changed."""
        base = self._base()
        if base is None:
            return
        request = request_for(base)
        if kind == "task":
            body = self.standin._task_json(request, task)
            self._event(task.project_id, "update:task", "task", body, before)
            if task.project_id and "updated_date" in before and len(before) == 1:
                project = self.standin.projects[task.project_id]
                old, project.updated_date = project.updated_date, _now()
                project_json = self.standin._project_json(request, project)
                self._event(task.project_id, "update:project", "project", project_json, {"updated_date": old})

    def job_changed(self, task: Task, before: dict[str, Any]) -> None:
        base = self._base()
        if base is None:
            return
        task.job_updated_date = _now()
        body = self.standin._job_json(request_for(base), task)
        self._event(task.project_id, "update:job", "job", body, before)

    def created(self, kind: str, task: Task) -> None:
        base = self._base()
        if base is None:
            return
        request = request_for(base)
        body = (
            self.standin._task_json(request, task)
            if kind == "task"
            else self.standin._job_json(request, task)
        )
        # A job is created by the background task creation: its payload names the sender by id, username and
        # email (recorded: 11b, create:job).
        sender = (
            {"id": 1, "username": self.standin.username, "email": "admin@example.com"}
            if kind == "job"
            else None
        )
        self._event(task.project_id, f"create:{kind}", kind, body, None, sender)

    def _base(self) -> str | None:
        server = self.standin._server
        return server.url if server else None

    def _event(
        self,
        project_id: int | None,
        event: str,
        key: str,
        body: dict[str, Any],
        before: dict[str, Any] | None,
        sender: dict[str, Any] | None = None,
    ) -> None:
        request = request_for(self._base())
        for hook in list(self.hooks.values()):
            if hook["project_id"] != project_id or event not in hook["events"] or not hook["is_active"]:
                continue
            payload: dict[str, Any] = {"event": event, "webhook_id": hook["id"], key: body}
            if before is not None:
                payload["before_update"] = before
                payload["changes"] = {
                    field: {"from": old, "to": body.get(field)} for field, old in before.items()
                }
            payload["sender"] = sender or self.standin.user_json(request, 1)
            changed_fields = ",".join(before or {})
            self._queue.put((hook["id"], event, payload, changed_fields, False))

    # ---- sending --------------------------------------------------------------------------------------
    def ping(self, request: Request, hook_id: int) -> dict[str, Any]:
        """Sent synchronously inside the ping request, as CVAT's API server does."""
        hook = self.hook(hook_id)
        payload = {
            "event": "ping",
            "webhook": self.hook_json(request, hook),
            "sender": self.standin.user_json(request, 1),
        }
        return self._send(hook_id, "ping", payload, "", False)

    def redeliver(self, hook_id: int, delivery_id: int) -> None:
        delivery = self.deliveries[delivery_id]
        self._queue.put((hook_id, delivery["event"], delivery["request"], delivery["changed_fields"], True))

    def wait_idle(self, timeout: float = 30) -> None:
        """Until every queued delivery has been sent (and answered)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not self._queue.unfinished_tasks, "webhook deliveries still pending"

    def _send_forever(self) -> None:
        while True:
            item = self._queue.get()
            try:
                self._send(*item)
            finally:
                self._queue.task_done()

    def _send(
        self, hook_id: int, event: str, payload: dict[str, Any], changed_fields: str, redelivery: bool
    ) -> dict[str, Any]:
        hook = self.hooks.get(hook_id)
        if hook is None:
            return {}
        raw = json.dumps(payload).encode()  # exactly what CVAT sends (and signs)
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*", "Content-Type": "application/json"}
        if hook["secret"]:
            headers["X-Signature-256"] = signature(hook["secret"], raw)
        started = time.monotonic()
        try:
            answer = httpx.post(hook["target_url"], content=raw, headers=headers, timeout=10)
            status, text = answer.status_code, answer.text
        except httpx.HTTPError:
            status, text = 502, ""
        moment = _now()
        delivery_id = self._new_id("delivery")
        self.deliveries[delivery_id] = {
            "id": delivery_id,
            "webhook_id": hook_id,
            "event": event,
            "status_code": status,
            "redelivery": redelivery,
            "attempt": 1,
            "request_duration": int(1000 * (time.monotonic() - started)),
            "created_date": moment,
            "updated_date": moment,
            "changed_fields": changed_fields,
            "request": payload,
            "response": text,
        }
        hook["last"] = (status, moment)
        self.sent.append((event, status, raw))
        return self.deliveries[delivery_id]


def add_review_routes(app: FastAPI, standin: CvatStandin) -> None:  # noqa: C901 - one route table
    from tests.standins.cvat import CvatError, CvatJSON, Frame, Task, _labeled_data, _paginate

    uploads: dict[int, list[tuple[str, bytes]]] = {}

    @app.get("/api/users")
    def list_users(request: Request) -> CvatJSON:
        search = request.query_params.get("search", "")
        users = [
            {
                **standin.user_json(request, user_id),
                "email": f"{name}@example.com",
                "groups": ["admin"] if user_id == 1 else ["user"],
                "is_staff": user_id == 1,
                "is_superuser": user_id == 1,
                "is_active": True,
                "last_login": _now(),
                "date_joined": _now(),
                "has_analytics_access": user_id == 1,
            }
            for user_id, name in standin.users.items()
            if search in name
        ]
        return CvatJSON(_paginate(request, users))

    @app.post("/api/tasks", status_code=201)
    async def create_task(request: Request) -> CvatJSON:
        body = await request.json()
        project_id = body.get("project_id")
        if project_id is not None:
            standin._project(project_id)
        task_id = standin._new_id("task")
        labels = [] if project_id else standin._labels(body.get("labels", []), {"task_id": task_id})
        task = Task(task_id, body["name"], project_id, body.get("subset", ""), [], labels, [], has_data=False)
        task.assignee_id = body.get("assignee_id")
        standin.tasks[task_id] = task
        uploads[task_id] = []
        standin.webhooks.created("task", task)
        body = standin._task_json(request, task)
        return CvatJSON(body, status_code=201, headers={"Location": body["url"]})

    @app.post("/api/tasks/{task_id}/data/")
    async def task_data(request: Request, task_id: int) -> Response:
        task = standin._task(task_id)
        if "upload-start" in request.headers:
            return Response(status_code=202)
        if "upload-multiple" in request.headers:
            form = await request.form()
            for key, value in form.multi_items():
                if key.startswith("client_files["):
                    name = (value.filename or key).replace("\\", "/").rsplit("/", 1)[-1]
                    uploads[task_id].append((name, await value.read()))
            return Response(status_code=200)
        if "upload-finish" in request.headers:
            frames = []
            for name, data in sorted(uploads.pop(task_id, [])):  # CVAT sorts frames by name
                with Image.open(io.BytesIO(data)) as image:
                    frames.append(Frame(name, data, *image.size))
            task.frames, task.has_data = frames, True
            task.updated_date = task.chunks_updated_date = task.job_updated_date = _now()
            standin.webhooks.created("job", task)
            rq_id = f"action=create&target=task&target_id={task_id}"
            return CvatJSON({"rq_id": rq_id}, status_code=202)
        raise CvatError(400, {"detail": "the stand-in needs Upload-Start, Upload-Multiple or Upload-Finish"})

    @app.get("/api/requests/{rq_id}")
    def background_request(request: Request, rq_id: str) -> CvatJSON:
        fields = dict(part.split("=", 1) for part in rq_id.split("&") if "=" in part)
        task = standin.tasks.get(int(fields.get("target_id", 0)))
        if fields.get("action") != "create" or task is None:
            raise CvatError(404, {"detail": "Not found."})
        return CvatJSON(
            {
                "status": "finished" if task.has_data else "started",
                "message": "",
                "id": rq_id,
                "operation": {
                    "type": "create:task",
                    "target": "task",
                    "project_id": task.project_id,
                    "task_id": task.id,
                    "job_id": None,
                    "org_id": None,
                    "format": None,
                    "lightweight": None,
                },
                "progress": 0.0,
                "created_date": task.created_date,
                "started_date": task.created_date,
                "finished_date": task.updated_date,
                "expiry_date": task.updated_date,
                "owner": {"id": 1, "username": standin.username},
                "result_url": None,
                "result_id": None,
            }
        )

    @app.get("/api/jobs/{job_id}")
    def retrieve_job(request: Request, job_id: int) -> CvatJSON:
        return CvatJSON(standin._job_json(request, _job(job_id)))

    @app.patch("/api/jobs/{job_id}")
    async def update_job(request: Request, job_id: int) -> CvatJSON:
        task = _job(job_id)
        body = await request.json()
        before: dict[str, Any] = {"updated_date": task.job_updated_date}
        old_status, old_task_status = task.job_status, _task_status(task)
        if "stage" in body:
            before["stage"], task.job_stage = task.job_stage, body["stage"]
            if "state" not in body:  # CVAT resets the state when only the stage changes
                before["state"], task.job_state = task.job_state, "new"
        if "state" in body:
            before["state"], task.job_state = task.job_state, body["state"]
        if "assignee" in body:
            before["assignee_id"], task.job_assignee_id = task.job_assignee_id, body["assignee"]
        if task.job_status != old_status:
            before["status"] = old_status
        if _task_status(task) != old_task_status:  # the task's row changes first
            task.updated_date = _now()
            standin.webhooks.changed("task", task, {"status": old_task_status})
        standin.webhooks.job_changed(task, before)
        return CvatJSON(standin._job_json(request, task))

    @app.get("/api/jobs/{job_id}/annotations/")
    def job_annotations(job_id: int) -> CvatJSON:
        return CvatJSON(_labeled_data(sorted(_job(job_id).tags, key=lambda t: t["frame"])))

    @app.patch("/api/jobs/{job_id}/annotations/")
    async def patch_job_annotations(request: Request, job_id: int, action: str) -> CvatJSON:
        task = _job(job_id)
        body = await request.json()
        if action == "create":
            changed = standin._create_tags(task, body.get("tags", []))
            task.tags.extend(changed)
        elif action == "update":
            by_id = {tag["id"]: tag for tag in task.tags}
            changed = []
            for item in body.get("tags", []):
                if item.get("id") not in by_id:
                    raise CvatError(400, {"detail": f"no tag with id {item.get('id')}"})
                standin._create_tags(task, [item])  # checks label and frame
                tag = by_id[item["id"]]
                tag.update(
                    {key: item[key] for key in ("label_id", "frame", "source", "group") if key in item}
                )
                changed.append(tag)
        else:
            raise CvatError(400, {"detail": f"the stand-in does not support action={action}"})
        standin._written(task, "PATCH", action, changed)
        return CvatJSON(_labeled_data(changed))

    @app.get("/api/webhooks/events")
    def webhook_events(type: str = "all") -> CvatJSON:
        events = (
            PROJECT_EVENTS
            if type == "project"
            else EXTRA_ALL_EVENTS[:1] + PROJECT_EVENTS + EXTRA_ALL_EVENTS[1:]
        )
        return CvatJSON(
            {"webhook_type": type, "events": [{"key": k, "group": {"display_name": g}} for k, g in events]}
        )

    @app.post("/api/webhooks", status_code=201)
    async def create_webhook(request: Request) -> CvatJSON:
        body = await request.json()
        if body.get("project_id") is not None:
            standin._project(body["project_id"])
        hook = standin.webhooks.create(request, body)
        return CvatJSON(hook, status_code=201, headers={"Location": hook["url"]})

    @app.get("/api/webhooks")
    def list_webhooks(request: Request) -> CvatJSON:
        project_id = request.query_params.get("project_id")
        hooks = [
            standin.webhooks.hook_json(request, hook)
            for hook in sorted(standin.webhooks.hooks.values(), key=lambda h: -h["id"])
            if project_id is None or str(hook["project_id"]) == project_id
        ]
        return CvatJSON(_paginate(request, hooks))

    @app.get("/api/webhooks/{hook_id}")
    def retrieve_webhook(request: Request, hook_id: int) -> CvatJSON:
        return CvatJSON(standin.webhooks.hook_json(request, standin.webhooks.hook(hook_id)))

    @app.patch("/api/webhooks/{hook_id}")
    async def update_webhook(request: Request, hook_id: int) -> CvatJSON:
        hook = standin.webhooks.hook(hook_id)
        body = await request.json()
        for key in ("target_url", "description", "content_type", "secret", "is_active", "enable_ssl"):
            if key in body:
                hook[key] = body[key]
        if "events" in body:
            hook["events"] = sorted(body["events"])  # replaced, not merged
        hook["updated_date"] = _now()
        return CvatJSON(standin.webhooks.hook_json(request, hook))

    @app.delete("/api/webhooks/{hook_id}")
    def delete_webhook(hook_id: int) -> Response:
        standin.webhooks.hook(hook_id)
        del standin.webhooks.hooks[hook_id]
        return Response(status_code=204)

    @app.post("/api/webhooks/{hook_id}/ping")
    def ping_webhook(request: Request, hook_id: int) -> CvatJSON:
        return CvatJSON(standin.webhooks.ping(request, hook_id))

    @app.get("/api/webhooks/{hook_id}/deliveries")
    def list_deliveries(request: Request, hook_id: int) -> CvatJSON:
        standin.webhooks.hook(hook_id)
        items = [d for d in standin.webhooks.deliveries.values() if d["webhook_id"] == hook_id]
        return CvatJSON(_paginate(request, sorted(items, key=lambda d: -d["id"])))

    @app.get("/api/webhooks/{hook_id}/deliveries/{delivery_id}")
    def retrieve_delivery(hook_id: int, delivery_id: int) -> CvatJSON:
        return CvatJSON(_delivery(hook_id, delivery_id))

    @app.post("/api/webhooks/{hook_id}/deliveries/{delivery_id}/redelivery")
    def redeliver(hook_id: int, delivery_id: int) -> CvatJSON:
        _delivery(hook_id, delivery_id)
        standin.webhooks.redeliver(hook_id, delivery_id)
        return CvatJSON({})

    def _delivery(hook_id: int, delivery_id: int) -> dict[str, Any]:
        delivery = standin.webhooks.deliveries.get(delivery_id)
        if delivery is None or delivery["webhook_id"] != standin.webhooks.hook(hook_id)["id"]:
            raise CvatError(404, {"detail": "No WebhookDelivery matches the given query."})
        return delivery

    def _job(job_id: int) -> Task:
        task = standin.tasks.get(job_id)
        if task is None or not task.has_data:
            raise CvatError(404, {"detail": "No Job matches the given query."})
        return task

    def _task_status(task: Task) -> str:
        from tests.standins.cvat import task_status

        return task_status([task.job_status])
