"""Errors in one place: each kind of domain error answers one status with its message, a subclass answers
with the kind it names first, and anything else (a bug) is a 500, never a 404 or a 400."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cvat_bridge.api import functions
from cvat_bridge.api.app import create_app
from cvat_bridge.api.errors import add_error_handlers
from cvat_bridge.cvat.client import CvatAuthError, CvatError, CvatNotConfigured, CvatNotFound, CvatUnavailable
from cvat_bridge.functions.nuclio import NuclioError
from cvat_bridge.ingest.store import CollectionInUse, ImportRefused
from cvat_bridge.ingest.upload import UploadError, UploadTooLarge
from cvat_bridge.jobs.queue import QueueUnavailable
from cvat_bridge.model_lookup import ModelNotFound, ModelNotReady
from cvat_bridge.services import Services
from cvat_bridge.serving.inputs import BadImage, TooManyPixels
from tests.conftest import API_TOKEN
from tests.inference.conftest import add_model

ANSWERS = [
    (ModelNotFound("no model with id 7"), 404),
    (CvatNotFound("CVAT has no task 3"), 404),
    (ModelNotReady("model 7 is not trained yet"), 409),
    (CollectionInUse("models 1, 2 train on it"), 409),
    (ImportRefused("no class folders"), 422),
    (BadImage("a.jpg", "not an image"), 422),
    (UploadError("send the upload as multipart/form-data"), 400),
    (UploadTooLarge("past 2 GiB"), 413),
    (TooManyPixels("too many pixels"), 413),
    (CvatNotConfigured("set CVAT_BRIDGE_CVAT_URL"), 503),
    (CvatUnavailable("CVAT is unreachable"), 503),
    (QueueUnavailable("Redis is down"), 503),
    (CvatAuthError("CVAT refused the credentials"), 502),
    (CvatError("CVAT gave an answer cvat-bridge cannot read"), 502),
    (NuclioError("Nuclio answered 500"), 502),
    (KeyError("function_name"), 500),
    (ValueError("a library's own complaint"), 500),
]


@pytest.mark.parametrize(("error", "status"), ANSWERS, ids=[type(error).__name__ for error, _ in ANSWERS])
def test_each_error_answers_its_kind_status(error: Exception, status: int) -> None:
    app = FastAPI()
    add_error_handlers(app)

    @app.get("/fail")
    def fail() -> None:
        raise error

    answer = TestClient(app, raise_server_exceptions=False).get("/fail")
    assert answer.status_code == status
    if status < 500 or status in (502, 503):
        assert answer.json() == {"detail": str(error)}
    assert ("retry-after" in answer.headers) == isinstance(error, QueueUnavailable)


def test_a_bug_in_a_route_is_a_500_not_a_404(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyError (a LookupError) once answered "404 'function_name'" from the deployment routes."""
    model_id = add_model(services, "succeeded")

    def broken_state(*_args: object) -> dict:
        return {}["function_name"]

    monkeypatch.setattr(functions, "deployment_state", broken_state)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    with TestClient(create_app(services), headers=headers, raise_server_exceptions=False) as client:
        answer = client.get(f"/api/models/{model_id}/deployment")
        assert answer.status_code == 500
        assert client.get("/api/models/999/deployment").status_code == 404  # a real "not found" still is
