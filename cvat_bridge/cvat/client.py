"""Talking to CVAT through cvat-sdk: an authenticated client from the settings, errors a user can act on,
retries (cvat-sdk's) where a retry can help, and the listings of what can be imported.

Secrets (password, access token) are never put into messages or logs. cvat-sdk's dataset cache is not
used anywhere in the bridge: annotations are always read from the server, so a re-import is never stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import urllib3
from cvat_sdk import Client
from cvat_sdk.api_client.exceptions import OpenApiException
from cvat_sdk.core.client import AccessTokenCredentials, Config, PasswordCredentials
from cvat_sdk.exceptions import ApiException

from cvat_bridge.errors import NotFound, Unavailable, UpstreamError
from cvat_bridge.masking import mask_secrets, mask_url
from cvat_bridge.settings import Settings

T = TypeVar("T")
TAG_LABEL_TYPES = ("tag", "any")  # CVAT label types a whole-image tag can use


class CvatError(UpstreamError):
    """A CVAT problem for the user: CVAT answered with an error, or an answer the bridge cannot read."""


class CvatNotConfigured(Unavailable, CvatError):
    """The CVAT settings are missing."""


class CvatUnavailable(Unavailable, CvatError):
    """CVAT cannot be reached, or answers that it is unavailable."""


class CvatAuthError(CvatError):
    """CVAT refused *our* credentials: not the bridge user's fault, so an upstream error, not a 401."""


class CvatNotFound(NotFound, CvatError):
    """CVAT has no such task or project (or does not show it to the bridge's user)."""


def server_url(settings: Settings) -> str:
    if not settings.cvat_url:
        raise CvatNotConfigured("CVAT is not configured: set CVAT_BRIDGE_CVAT_URL (and credentials)")
    return settings.cvat_url.rstrip("/")


def _credentials(settings: Settings) -> AccessTokenCredentials | PasswordCredentials:
    if settings.cvat_access_token:
        return AccessTokenCredentials(settings.cvat_access_token.get_secret_value())
    if settings.cvat_username and settings.cvat_password:
        return PasswordCredentials(settings.cvat_username, settings.cvat_password.get_secret_value())
    raise CvatNotConfigured(
        "no CVAT credentials: set CVAT_BRIDGE_CVAT_ACCESS_TOKEN, or CVAT_BRIDGE_CVAT_USERNAME and "
        "CVAT_BRIDGE_CVAT_PASSWORD"
    )


def _who(settings: Settings) -> str:
    return "the access token" if settings.cvat_access_token else f"user {settings.cvat_username!r}"


def call(what: str, function: Callable[[], T]) -> T:
    """Run CVAT calls, translating failures into CvatError messages that say what was being done.

    cvat-sdk's own urllib3 pool already retries with exponential backoff where that helps: connection
    failures, and 502/503/504 answers to reads (never to POST/PATCH, which could write twice)."""
    try:
        return function()
    except ApiException as exc:
        raise _translate(what, exc) from None
    except urllib3.exceptions.MaxRetryError as exc:
        if isinstance(exc.reason, urllib3.exceptions.ResponseError):
            raise CvatUnavailable(
                f"CVAT is unavailable while trying to {what} ({exc.reason}); try again later"
            ) from None
        raise CvatUnavailable(f"CVAT is unreachable while trying to {what}: {_short(exc)}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise CvatUnavailable(f"CVAT is unreachable while trying to {what}: {_short(exc)}") from None
    except (OpenApiException, TypeError, ValueError, KeyError, AttributeError) as exc:
        if not _raised_in_sdk(exc):
            raise  # a bug of ours, not CVAT's answer
        raise CvatError(
            f"CVAT gave an answer cvat-bridge cannot read while trying to {what} ({_short(exc)}): is "
            "CVAT_BRIDGE_CVAT_URL the address of a CVAT server, of a version cvat-sdk supports?"
        ) from None


def _raised_in_sdk(exc: BaseException) -> bool:
    """Whether cvat-sdk was running when ``exc`` was raised (reading an answer it did not expect)."""
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_globals.get("__name__", "").startswith("cvat_sdk"):
            return True
        frame = frame.tb_next
    return False


def _translate(what: str, exc: ApiException) -> CvatError:
    detail = f"CVAT answered {exc.status} while trying to {what}"
    if exc.status in (401, 403):
        return CvatAuthError(f"{detail}: the credentials are wrong or lack permission")
    if exc.status == 404:
        return CvatNotFound(f"{detail}: not found (or not visible to the configured CVAT user)")
    if exc.status in (502, 503, 504):
        return CvatUnavailable(f"{detail}: CVAT is unavailable, try again later")
    body = (exc.body or b"")[:300]
    return CvatError(f"{detail}: {body.decode(errors='replace') if isinstance(body, bytes) else body}")


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)[:300]


@contextmanager
def connect(settings: Settings) -> Iterator[Client]:
    """An authenticated cvat-sdk Client for the configured server, checked with ``users/self``.

    A CvatError raised in the block has the configured secrets masked (CVAT's answers are quoted in some
    messages, and a server may echo what it was sent)."""
    url = server_url(settings)
    _credentials(settings)  # refuse a missing configuration before any request
    try:
        client = call(f"reach {mask_url(url)}", lambda: Client(url, config=Config()))
        try:
            call(f"log in at {mask_url(url)}", lambda: _login(client, settings, mask_url(url)))
            yield client
        finally:
            client.close()
    except CvatError as exc:
        raise type(exc)(mask_secrets(str(exc), _secrets(settings))) from None


def _secrets(settings: Settings) -> list[str | None]:
    return [
        secret.get_secret_value() for secret in (settings.cvat_password, settings.cvat_access_token) if secret
    ]


def _login(client: Client, settings: Settings, url: str) -> None:
    try:
        client.login(_credentials(settings))
        if settings.cvat_organization:
            client.organization_slug = settings.cvat_organization
        client.users.retrieve_current_user()  # a token is only checked when used
    except ApiException as exc:
        if exc.status in (400, 401, 403):
            raise CvatAuthError(
                f"CVAT at {url} refused {_who(settings)}: check the CVAT_BRIDGE_CVAT_* credentials"
            ) from None
        raise


def status(settings: Settings) -> dict[str, Any]:
    """Whether CVAT is configured and reachable, its version and the user the bridge acts as."""
    answer: dict[str, Any] = {
        "configured": bool(settings.cvat_url),
        "url": mask_url(settings.cvat_url) if settings.cvat_url else None,
        "reachable": False,
        "authenticated": False,
        "version": None,
        "user": None,
        "detail": None,
    }
    try:
        with connect(settings) as client:
            user = client.users.retrieve_current_user()
            answer.update(
                reachable=True,
                authenticated=True,
                version=str(client.get_server_version()),
                user=user.username,
            )
    except CvatAuthError as exc:
        answer.update(reachable=True, detail=str(exc))
    except CvatError as exc:
        answer["detail"] = str(exc)
    return answer


def tag_labels(labels: list[Any]) -> dict[str, int]:
    """{name: id} of the labels a whole-image tag can use (type ``tag`` or ``any``)."""
    return {label.name: label.id for label in labels if getattr(label, "type", "any") in TAG_LABEL_TYPES}


def list_tasks(client: Client) -> list[dict[str, Any]]:
    """Every task visible to the user: id, name, size, subset, project, media type, tag labels."""
    tasks = call("list tasks", client.tasks.list)
    labels_of_project: dict[int, list[str]] = {}

    def labels(task: Any) -> list[str]:
        if task.project_id is None:
            return sorted(tag_labels(call(f"read labels of task {task.id}", task.get_labels)))
        if task.project_id not in labels_of_project:
            labels_of_project[task.project_id] = sorted(
                tag_labels(call(f"read labels of task {task.id}", task.get_labels))
            )
        return labels_of_project[task.project_id]

    return [
        {
            "id": t.id,
            "name": t.name,
            "size": t.size or 0,
            "subset": t.subset or "",
            "project_id": t.project_id,
            "media_type": t.media_type or "",
            "labels": labels(t),
        }
        for t in tasks
    ]


def list_projects(client: Client) -> list[dict[str, Any]]:
    """Every project visible to the user: id, name, number of tasks, total frames, tag labels."""
    projects = call("list projects", client.projects.list)
    tasks = call("list tasks", client.tasks.list)
    return [
        {
            "id": p.id,
            "name": p.name,
            "tasks": sum(1 for t in tasks if t.project_id == p.id),
            "size": sum(t.size or 0 for t in tasks if t.project_id == p.id),
            "labels": sorted(tag_labels(call(f"read labels of project {p.id}", p.get_labels))),
        }
        for p in projects
    ]
