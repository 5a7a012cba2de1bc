"""A small CVAT server for tests and benchmarks, shaped like the responses recorded from CVAT 2.73
(``tests/data/cvat-recordings``) so that the real cvat-sdk 2.80.0 accepts it.

Serves: server about, password login (session cookies + CSRF) and personal access tokens (Bearer),
users/self, tasks/projects/labels/jobs (paginated like CVAT, absolute URLs from the Host header), task data
meta, original/compressed frames and zip chunks of the exact uploaded bytes, tag annotations
(GET/PUT/PATCH create|delete/DELETE, every write bumps the task's ``updated_date``) and
``GET /api/lambda/functions`` built from a Nuclio dashboard, as CVAT's lambda manager does; and what the
closed loop needs (``tests/standins/cvat_review.py``, flows 11-13): task creation from uploaded frames, job
state/stage changes, job annotations, users, webhooks with signed deliveries.
State is seeded through Python (``add_project``, ``add_task``, ``add_user``); every annotation write is
recorded in ``writes``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import secrets
import threading
import zipfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from PIL import Image

from tests.standins import ThreadedServer

VERSION = "2.80.0"
ADMIN_ID = 1
LABEL_COLORS = ("#6080c0", "#406040", "#404040", "#c06060", "#60c0c0", "#c0c060")


class CvatJSON(JSONResponse):
    media_type = "application/vnd.cvat+json"


class CvatError(HTTPException):
    """An error answered with CVAT's body (``{"detail": ...}`` or a serializer's field errors)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.body = body


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Frame:
    name: str
    data: bytes
    width: int
    height: int


@dataclass
class Project:
    id: int
    name: str
    labels: list[dict[str, Any]]
    created_date: str = field(default_factory=_now)
    updated_date: str = field(default_factory=_now)


@dataclass
class Task:
    id: int
    name: str
    project_id: int | None
    subset: str
    frames: list[Frame]
    labels: list[dict[str, Any]]  # empty for tasks in a project: they use the project's labels
    deleted_frames: list[int]
    media_type: str = "image"
    tags: list[dict[str, Any]] = field(default_factory=list)
    created_date: str = field(default_factory=_now)
    updated_date: str = field(default_factory=_now)
    chunks_updated_date: str = field(default_factory=_now)
    has_data: bool = True  # False between POST /api/tasks and the end of its data upload
    assignee_id: int | None = None
    # The task's one job (its id is the task's): CVAT's stage, state and assignee.
    job_stage: str = "annotation"
    job_state: str = "new"
    job_assignee_id: int | None = None
    job_updated_date: str = field(default_factory=_now)

    @property
    def job_status(self) -> str:
        """Derived as CVAT does: annotation while in that stage, completed when accepted, else validation."""
        if self.job_stage == "annotation":
            return "annotation"
        return (
            "completed" if (self.job_stage, self.job_state) == ("acceptance", "completed") else "validation"
        )


class CvatStandin:
    """The server's state and its app. Use as a context manager to serve it on a free port (``url``)."""

    def __init__(
        self,
        username: str = "admin",
        password: str = "admin-password",
        access_token: str = "cvat-pat-for-tests",
        nuclio_url: str | None = None,
        chunk_size: int = 72,
    ) -> None:
        self.username, self.password, self.access_token = username, password, access_token
        self.nuclio_url = nuclio_url
        self.chunk_size = chunk_size
        self.projects: dict[int, Project] = {}
        self.tasks: dict[int, Task] = {}
        self.writes: list[dict[str, Any]] = []  # every annotation write: method, task_id, action, tags
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.outage = 0  # answer this many next requests with 503, as a proxy does while CVAT restarts
        self.outage_path: str | None = None  # ... only requests to this path, when set
        self.echo_path: str | None = None  # requests to this path answer 422 quoting what they sent
        self.about_answer: tuple[str, bytes] | None = None  # (media type, body) of /api/server/about, if set
        self.users: dict[int, str] = {ADMIN_ID: username}  # id -> username
        self.webhooks = WebhookHub(self)  # webhooks and their signed deliveries (cvat_review.py)
        self._sessions: dict[str, str] = {}  # sessionid -> csrftoken
        self._next_id = {"project": 1, "task": 1, "label": 1, "tag": 1, "user": ADMIN_ID + 1}
        self._lock = threading.Lock()
        self.app = self._make_app()
        self._server: ThreadedServer | None = None

    # ---- seeding -------------------------------------------------------------------------------------
    def _new_id(self, kind: str) -> int:
        with self._lock:
            value = self._next_id[kind]
            self._next_id[kind] += 1
            return value

    def _labels(self, specs: list[str | dict[str, Any]], owner: dict[str, int]) -> list[dict[str, Any]]:
        labels = []
        for index, spec in enumerate(specs):
            spec = {"name": spec, "type": "tag"} if isinstance(spec, str) else spec
            labels.append(
                {
                    "id": self._new_id("label"),
                    "name": spec["name"],
                    "color": LABEL_COLORS[index % 6],
                    "attributes": [],
                    "type": spec.get("type", "any"),
                    "sublabels": [],
                    **owner,
                    "parent_id": None,
                    "has_parent": False,
                }
            )
        return labels

    def add_project(self, name: str, labels: list[str | dict[str, Any]]) -> int:
        """A project with labels (names: type "tag"; or dicts {"name", "type"}); returns its id."""
        project_id = self._new_id("project")
        owned = self._labels(labels, {"project_id": project_id})
        self.projects[project_id] = Project(project_id, name, owned)
        return project_id

    def add_task(
        self,
        name: str,
        images: list[tuple[str, bytes]],
        labels: list[str | dict[str, Any]] | None = None,
        project_id: int | None = None,
        subset: str = "",
        tags: dict[int, list[str]] | None = None,
        deleted_frames: list[int] | None = None,
        media_type: str = "image",
    ) -> int:
        """A task whose frames are the given (file name, bytes) in order, with manual tags
        ({frame: [label names]}); labels are the task's own, or the project's when project_id is set."""
        task_id = self._new_id("task")
        frames = []
        for file_name, data in images:
            with Image.open(io.BytesIO(data)) as image:
                frames.append(Frame(file_name, data, *image.size))
        own_labels = [] if project_id else self._labels(labels or [], {"task_id": task_id})
        task = Task(
            task_id, name, project_id, subset, frames, own_labels, sorted(deleted_frames or []), media_type
        )
        self.tasks[task_id] = task
        by_name = {label["name"]: label["id"] for label in self.task_labels(task)}
        for frame, names in (tags or {}).items():
            for label_name in names:
                task.tags.append(self._tag({"frame": frame, "label_id": by_name[label_name]}))
        return task_id

    def add_user(self, username: str) -> int:
        """Another CVAT user (an annotator to assign review tasks to); returns its id."""
        user_id = self._new_id("user")
        self.users[user_id] = username
        return user_id

    def task_labels(self, task: Task) -> list[dict[str, Any]]:
        return self.projects[task.project_id].labels if task.project_id else task.labels

    def tags_by_frame(self, task_id: int) -> dict[int, list[tuple[str, str]]]:
        """{frame: [(label name, source)]} of a task's current tags, for assertions."""
        task = self.tasks[task_id]
        names = {label["id"]: label["name"] for label in self.task_labels(task)}
        result: dict[int, list[tuple[str, str]]] = {}
        for item in sorted(task.tags, key=lambda t: (t["frame"], t["id"])):
            result.setdefault(item["frame"], []).append((names[item["label_id"]], item["source"]))
        return result

    def _tag(self, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self._new_id("tag"),
            "label_id": request["label_id"],
            "group": request.get("group") or 0,
            "source": request.get("source") or "manual",
            "frame": request["frame"],
            "attributes": request.get("attributes") or [],
        }

    # ---- serving ---------------------------------------------------------------------------------------
    def __enter__(self) -> CvatStandin:
        self._server = ThreadedServer(self.app).__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server:
            self._server.__exit__(*exc_info)

    @property
    def url(self) -> str:
        assert self._server, "the stand-in is not serving (use it as a context manager)"
        return self._server.url

    def _make_app(self) -> FastAPI:
        app = FastAPI(redirect_slashes=False, openapi_url=None, docs_url=None, redoc_url=None)
        standin = self

        @app.exception_handler(CvatError)
        def cvat_error(_request: Request, exc: CvatError) -> CvatJSON:
            return CvatJSON(exc.body, status_code=exc.status_code)

        @app.middleware("http")
        async def gate(request: Request, call_next):
            standin.requests.append((request.method, request.url.path))
            if standin.outage > 0 and standin.outage_path in (None, request.url.path):
                standin.outage -= 1
                return CvatJSON({"detail": "CVAT is restarting"}, status_code=503)
            if request.url.path == standin.echo_path:  # as a server whose errors quote the request
                sent = {
                    "headers": dict(request.headers),
                    "body": (await request.body()).decode(errors="replace"),
                }
                return CvatJSON({"detail": "invalid request", "received": sent}, status_code=422)
            if request.url.path == "/api/server/about" and standin.about_answer is not None:
                media_type, body = standin.about_answer
                return Response(body, media_type=media_type)
            public = request.url.path in ("/api/server/about", "/api/auth/login")
            if not public:
                problem = standin._auth_problem(request)
                if problem:
                    code = 403 if problem.startswith("CSRF") else 401
                    return CvatJSON({"detail": problem}, status_code=code)
            return await call_next(request)

        @app.get("/api/server/about")
        def about(request: Request) -> CvatJSON:
            return CvatJSON(
                {
                    "name": "Computer Vision Annotation Tool",
                    "description": "CVAT stand-in for cvat-bridge tests.",
                    "version": VERSION,
                    "logo_url": f"{_base(request)}/static/logo.svg",
                    "subtitle": "Open Data Annotation Platform",
                }
            )

        @app.post("/api/auth/login")
        async def login(request: Request) -> CvatJSON:
            body = await request.json()
            if (body.get("username"), body.get("password")) != (standin.username, standin.password):
                raise CvatError(400, {"non_field_errors": ["Unable to log in with provided credentials."]})
            session, csrf = secrets.token_hex(16), secrets.token_hex(16)
            standin._sessions[session] = csrf
            response = CvatJSON({"key": secrets.token_hex(20)})
            response.set_cookie("csrftoken", csrf, max_age=31449600, samesite="lax")
            response.set_cookie("sessionfresh", "1", max_age=86400, httponly=True, samesite="lax")
            response.set_cookie("sessionid", session, max_age=1209600, httponly=True, samesite="lax")
            return response

        @app.post("/api/auth/logout")
        def logout(request: Request) -> CvatJSON:
            standin._sessions.pop(request.cookies.get("sessionid", ""), None)
            response = CvatJSON({"detail": "Successfully logged out."})
            response.delete_cookie("sessionfresh")
            response.delete_cookie("sessionid")
            return response

        @app.get("/api/users/self")
        def users_self(request: Request) -> CvatJSON:
            return CvatJSON(
                {
                    **_owner(request),
                    "email": "admin@example.com",
                    "groups": ["admin"],
                    "is_staff": True,
                    "is_superuser": True,
                    "is_active": True,
                    "last_login": _now(),
                    "date_joined": _now(),
                    "has_analytics_access": True,
                }
            )

        @app.get("/api/projects")
        def list_projects(request: Request) -> CvatJSON:
            items = [
                standin._project_json(request, p)
                for p in sorted(standin.projects.values(), key=lambda p: -p.id)
            ]
            return CvatJSON(_paginate(request, items))

        @app.get("/api/projects/{project_id}")
        def retrieve_project(request: Request, project_id: int) -> CvatJSON:
            return CvatJSON(standin._project_json(request, standin._project(project_id)))

        @app.get("/api/tasks")
        def list_tasks(request: Request) -> CvatJSON:
            project_id = request.query_params.get("project_id")
            tasks = [
                t
                for t in sorted(standin.tasks.values(), key=lambda t: -t.id)
                if project_id is None or str(t.project_id) == project_id
            ]
            return CvatJSON(_paginate(request, [standin._task_json(request, t) for t in tasks]))

        @app.get("/api/tasks/{task_id}")
        def retrieve_task(request: Request, task_id: int) -> CvatJSON:
            return CvatJSON(standin._task_json(request, standin._task(task_id)))

        @app.delete("/api/tasks/{task_id}")
        def remove_task(task_id: int) -> Response:
            del standin.tasks[standin._task(task_id).id]
            return Response(status_code=204)

        @app.get("/api/labels")
        def list_labels(request: Request) -> CvatJSON:
            query = request.query_params
            if query.get("task_id"):
                labels = standin.task_labels(standin._task(int(query["task_id"])))
            elif query.get("project_id"):
                labels = standin._project(int(query["project_id"])).labels
            else:
                labels = [label for p in standin.projects.values() for label in p.labels] + [
                    label for t in standin.tasks.values() for label in t.labels
                ]
            return CvatJSON(_paginate(request, labels))

        @app.get("/api/jobs")
        def list_jobs(request: Request) -> CvatJSON:
            task_id = request.query_params.get("task_id")
            tasks = [t for t in standin.tasks.values() if task_id is None or str(t.id) == task_id]
            return CvatJSON(_paginate(request, [standin._job_json(request, t) for t in tasks]))

        @app.get("/api/tasks/{task_id}/data/meta")
        def data_meta(task_id: int) -> CvatJSON:
            task = standin._task(task_id)
            return CvatJSON(
                {
                    "chapters": None,
                    "chunks_updated_date": task.chunks_updated_date,
                    "chunk_size": standin.chunk_size,
                    "size": len(task.frames),
                    "image_quality": 70,
                    "start_frame": 0,
                    "stop_frame": len(task.frames) - 1,
                    "frame_filter": "",
                    "frames": [
                        {
                            "width": f.width,
                            "height": f.height,
                            "name": f.name,
                            "related_files": 0,
                            "has_related_context": False,
                        }
                        for f in task.frames
                    ],
                    "deleted_frames": task.deleted_frames,
                    "included_frames": None,
                    "storage": "local",
                    "cloud_storage_id": None,
                }
            )

        @app.get("/api/tasks/{task_id}/data/")
        def data(task_id: int, type: str, number: int, quality: str = "compressed") -> Response:
            task = standin._task(task_id)
            if type == "frame":
                frame = standin._frame(task, number)
                content = frame.data if quality == "original" else _compressed(frame.data)
                return Response(content, media_type=Image.MIME[Image.open(io.BytesIO(content)).format])
            if type == "chunk":
                if task.media_type != "image":
                    raise CvatError(400, {"detail": "the stand-in serves image chunks only"})
                first = number * standin.chunk_size
                frames = task.frames[first : first + standin.chunk_size]
                if not frames:
                    raise CvatError(400, ["The frame number doesn't exist"])
                return Response(_chunk(frames, quality), media_type="application/zip")
            raise CvatError(400, {"detail": f"unknown data type {type}"})

        @app.get("/api/tasks/{task_id}/annotations/")
        def get_annotations(task_id: int) -> CvatJSON:
            task = standin._task(task_id)
            return CvatJSON(_labeled_data(sorted(task.tags, key=lambda t: t["frame"])))

        @app.put("/api/tasks/{task_id}/annotations/")
        async def put_annotations(request: Request, task_id: int) -> CvatJSON:
            task = standin._task(task_id)
            body = await request.json()
            created = standin._create_tags(task, body.get("tags", []))
            task.tags = created
            standin._written(task, "PUT", None, created)
            return CvatJSON(_labeled_data(created))

        @app.patch("/api/tasks/{task_id}/annotations/")
        async def patch_annotations(request: Request, task_id: int, action: str) -> CvatJSON:
            task = standin._task(task_id)
            body = await request.json()
            if action == "create":
                changed = standin._create_tags(task, body.get("tags", []))
                task.tags.extend(changed)
            elif action == "delete":
                ids = {item["id"] for item in body.get("tags", [])}
                changed = [t for t in task.tags if t["id"] in ids]
                task.tags = [t for t in task.tags if t["id"] not in ids]
            else:
                raise CvatError(400, {"detail": f"the stand-in does not support action={action}"})
            standin._written(task, "PATCH", action, changed)
            return CvatJSON(_labeled_data(changed))

        @app.delete("/api/tasks/{task_id}/annotations/")
        def delete_annotations(task_id: int) -> Response:
            task = standin._task(task_id)
            removed, task.tags = task.tags, []
            standin._written(task, "DELETE", None, removed)
            return Response(status_code=204)

        @app.get("/api/lambda/functions")
        def lambda_functions() -> CvatJSON:
            return CvatJSON(standin._lambda_functions())

        add_review_routes(app, standin)
        return app

    # ---- helpers of the routes -----------------------------------------------------------------------
    def _auth_problem(self, request: Request) -> str | None:
        authorization = request.headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            return None if scheme.lower() == "bearer" and token == self.access_token else "Invalid token."
        session = request.cookies.get("sessionid")
        if session not in self._sessions:
            return "Authentication credentials were not provided."
        unsafe = request.method not in ("GET", "HEAD", "OPTIONS")
        if unsafe and request.headers.get("x-csrftoken") != self._sessions[session]:
            return "CSRF Failed: CSRF token missing or incorrect."
        return None

    def _project(self, project_id: int) -> Project:
        if project_id not in self.projects:
            raise CvatError(404, {"detail": "No Project matches the given query."})
        return self.projects[project_id]

    def _task(self, task_id: int) -> Task:
        if task_id not in self.tasks:
            raise CvatError(404, {"detail": "No Task matches the given query."})
        return self.tasks[task_id]

    @staticmethod
    def _frame(task: Task, number: int) -> Frame:
        if not 0 <= number < len(task.frames):
            raise CvatError(400, ["The frame number doesn't exist"])
        return task.frames[number]

    def _create_tags(self, task: Task, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        label_ids = {label["id"] for label in self.task_labels(task)}
        for item in requests:
            if item["label_id"] not in label_ids or not 0 <= item["frame"] < len(task.frames):
                raise CvatError(400, {"detail": f"invalid tag {item}"})
        return [self._tag(item) for item in requests]

    def _written(self, task: Task, method: str, action: str | None, tags: list[dict[str, Any]]) -> None:
        before = task.updated_date
        task.updated_date = max(_now(), task.updated_date)  # the SDK's dataset cache relies on this
        self.writes.append({"method": method, "task_id": task.id, "action": action, "tags": tags})
        # Every annotation write: update:job, update:task, update:project, only updated_date changed.
        self.webhooks.job_changed(task, {"updated_date": task.job_updated_date})
        self.webhooks.changed("task", task, {"updated_date": before})

    def _project_json(self, request: Request, project: Project) -> dict[str, Any]:
        base = _base(request)
        tasks = [t for t in self.tasks.values() if t.project_id == project.id]
        return {
            "url": f"{base}/api/projects/{project.id}",
            "id": project.id,
            "name": project.name,
            "owner": _owner(request),
            "assignee": None,
            "guide_id": None,
            "bug_tracker": "",
            "created_date": project.created_date,
            "updated_date": project.updated_date,
            "status": "annotation",
            "dimension": "2d" if tasks else None,
            "organization": None,
            "organization_id": None,
            "target_storage": None,
            "source_storage": None,
            "tasks": {"count": len(tasks), "url": f"{base}/api/tasks?project_id={project.id}"},
            "labels": {"url": f"{base}/api/labels?project_id={project.id}"},
            "assignee_updated_date": None,
            "task_subsets": sorted({t.subset for t in tasks if t.subset}),
        }

    def _task_json(self, request: Request, task: Task) -> dict[str, Any]:
        chunk_type = "imageset" if task.media_type == "image" else "video"
        if not task.has_data:  # as CVAT answers POST /api/tasks: no data fields yet
            return _without_data(self._task_with_data_json(request, task, chunk_type))
        return self._task_with_data_json(request, task, chunk_type)

    def _task_with_data_json(self, request: Request, task: Task, chunk_type: str) -> dict[str, Any]:
        base = _base(request)
        statuses = [task.job_status] if task.has_data else []
        return {
            "url": f"{base}/api/tasks/{task.id}",
            "id": task.id,
            "name": task.name,
            "project_id": task.project_id,
            "project_name": self.projects[task.project_id].name if task.project_id else None,
            "owner": _owner(request),
            "assignee": self.user_json(request, task.assignee_id),
            "bug_tracker": "",
            "created_date": task.created_date,
            "updated_date": task.updated_date,
            "overlap": 0,
            "segment_size": len(task.frames),
            "status": task_status(statuses),
            "data_chunk_size": self.chunk_size,
            "data_original_chunk_type": chunk_type,
            "data_compressed_chunk_type": chunk_type,
            "data_cloud_storage_id": None,
            "guide_id": None,
            "size": len(task.frames),
            "image_quality": 70,
            "data": task.id,
            "dimension": "2d",
            "mode": "annotation" if task.media_type == "image" else "interpolation",
            "media_type": task.media_type,
            "subset": task.subset,
            "organization_id": None,
            "organization": None,
            "target_storage": None,
            "source_storage": None,
            "jobs": {
                "count": len(statuses),
                "completed": statuses.count("completed"),
                "validation": statuses.count("validation"),
                "url": f"{base}/api/jobs?task_id={task.id}",
            },
            "labels": {"url": f"{base}/api/labels?task_id={task.id}"},
            "assignee_updated_date": task.created_date if task.assignee_id else None,
            "validation_mode": None,
            "consensus_enabled": False,
        }

    def _job_json(self, request: Request, task: Task) -> dict[str, Any]:
        base, project = _base(request), self.projects.get(task.project_id or 0)
        chunk_type = "imageset" if task.media_type == "image" else "video"
        return {
            "url": f"{base}/api/jobs/{task.id}",
            "id": task.id,
            "task_id": task.id,
            "task_name": task.name,
            "project_id": task.project_id,
            "project_name": project.name if project else None,
            "assignee": self.user_json(request, task.job_assignee_id),
            "guide_id": None,
            "dimension": "2d",
            "mode": "annotation",
            "media_type": task.media_type,
            "bug_tracker": "",
            "status": task.job_status,
            "stage": task.job_stage,
            "state": task.job_state,
            "frame_count": len(task.frames),
            "start_frame": 0,
            "stop_frame": len(task.frames) - 1,
            "data_chunk_size": self.chunk_size,
            "data_compressed_chunk_type": chunk_type,
            "data_original_chunk_type": chunk_type,
            "created_date": task.created_date,
            "updated_date": task.job_updated_date,
            "issues": {"url": f"{base}/api/issues?job_id={task.id}", "count": 0},
            "labels": {"url": f"{base}/api/labels?job_id={task.id}"},
            "type": "annotation",
            "organization": None,
            "target_storage": None,
            "source_storage": None,
            "assignee_updated_date": task.job_updated_date if task.job_assignee_id else None,
            "parent_job_id": None,
            "replicas_count": 0,
            "consensus_replicas": 0,
        }

    def user_json(self, request: Request, user_id: int | None) -> dict[str, Any] | None:
        if user_id is None:
            return None
        return {
            **_owner(request),
            "url": f"{_base(request)}/api/users/{user_id}",
            "id": user_id,
            "username": self.users[user_id],
        }

    def _lambda_functions(self) -> list[dict[str, Any]]:
        """What CVAT's lambda manager makes of the Nuclio dashboard's functions in project ``cvat``."""
        if not self.nuclio_url:
            raise CvatError(503, {"detail": "Nuclio is not configured"})
        headers = {
            "x-nuclio-project-name": "cvat",
            "x-nuclio-function-namespace": "nuclio",
            "x-nuclio-invoke-via": "domain-name",
            "X-Nuclio-Invoke-Timeout": "120s",
        }
        try:
            answer = httpx.get(f"{self.nuclio_url.rstrip('/')}/api/functions", headers=headers, timeout=30)
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            raise CvatError(503, {"detail": f"Nuclio dashboard is unreachable: {exc}"}) from exc
        functions = []
        for item in answer.json().values():
            annotations = item["metadata"].get("annotations", {})
            if annotations.get("type") not in ("detector", "interactor", "reid", "tracker"):
                continue  # CVAT skips functions of unknown kinds
            if "description" not in item.get("spec", {}):
                name = item["metadata"]["name"]
                raise CvatError(500, {"detail": f"function {name} has no spec.description"})
            labels = json.loads(annotations.get("spec") or "[]")
            functions.append(
                {
                    "id": item["metadata"]["name"],
                    "kind": annotations["type"],
                    "labels_v2": [
                        {
                            "name": label["name"],
                            "type": label.get("type", "unknown"),
                            "attributes": label.get("attributes", []),
                        }
                        for label in labels
                    ],
                    "description": item["spec"]["description"],
                    "name": annotations.get("name", item["metadata"]["name"]),
                    "version": int(annotations.get("version", 1)),
                }
            )
        return functions


def task_status(job_statuses: list[str]) -> str:
    """A task's status from its jobs' (CVAT: any in annotation, else any in validation, else completed)."""
    for status in ("annotation", "validation"):
        if status in job_statuses or not job_statuses:
            return status
    return "completed"


def _without_data(task_json: dict[str, Any]) -> dict[str, Any]:
    """A task's JSON before its data is uploaded (recorded: flow 13 seq 10)."""
    absent = (
        "data_chunk_size",
        "data_original_chunk_type",
        "data_compressed_chunk_type",
        "data_cloud_storage_id",
        "size",
        "image_quality",
    )
    task_json = {key: value for key, value in task_json.items() if key not in absent}
    task_json.update(overlap=None, segment_size=0, data=None, dimension="", mode="", media_type="")
    return task_json


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers['host']}"


def _owner(request: Request) -> dict[str, Any]:
    return {
        "url": f"{_base(request)}/api/users/{ADMIN_ID}",
        "id": ADMIN_ID,
        "username": "admin",
        "first_name": "",
        "last_name": "",
    }


def _paginate(request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Django REST framework's page-number pagination as CVAT configures it (10 per page by default)."""
    query = dict(request.query_params)
    page, size = int(query.get("page", 1)), int(query.get("page_size", 10))
    if page < 1 or (page - 1) * size >= max(len(items), 1):
        raise CvatError(404, {"detail": "Invalid page."})

    def link(number: int) -> str:
        params = {k: v for k, v in query.items() if k != "page"}
        if number > 1:
            params = {"page": str(number), **params}
        return f"{_base(request)}{request.url.path}" + (f"?{urlencode(params)}" if params else "")

    return {
        "count": len(items),
        "next": link(page + 1) if page * size < len(items) else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": items[(page - 1) * size : page * size],
    }


def _labeled_data(tags: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version": 0, "tags": tags, "shapes": [], "tracks": [], "intervals": []}


def _compressed(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=70)
        return buffer.getvalue()


def _chunk(frames: list[Frame], quality: str) -> bytes:
    """A zip of the chunk's frames, stored, named by position: the uploaded bytes for original quality."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index, frame in enumerate(frames):
            if quality == "original":
                extension = "." + frame.name.rsplit(".", 1)[-1].lower() if "." in frame.name else ""
                archive.writestr(f"{index:06d}{extension}", frame.data)
            else:
                archive.writestr(f"{index:06d}.jpeg", _compressed(frame.data))
    return buffer.getvalue()


# The loop's additions (users, task creation, jobs, webhooks) use the helpers above.
from tests.standins.cvat_review import WebhookHub, add_review_routes  # noqa: E402
