"""Dependencies shared by the routes: the services, and the token check of the function zip download.

Every other /api route is behind the API token, checked by ``api.gate.ApiGate`` before the body is read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request, status
from pydantic import Field

from cvat_bridge.auth import bearer_token, model_download_token, token_matches, token_refusal
from cvat_bridge.limits import MAX_ID
from cvat_bridge.model_lookup import resolve_model
from cvat_bridge.services import Services

# The id of a collection or model, in a path or a body: one that no row can have (past PostgreSQL's INTEGER,
# or below 1) is refused 422 before any query.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


async def services(request: Request) -> Services:
    return request.app.state.services


def multipart_form(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI ``openapi_extra`` of a route that parses its multipart form itself (streaming it)."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def scalar_fields(data: dict[str, Any] | None) -> dict[str, Any]:
    """A summary of a JSON object for list answers: its fields that are not lists or objects."""
    return {key: value for key, value in (data or {}).items() if not isinstance(value, list | dict)}


def require_token_or_download_token(request: Request) -> None:
    """The API token, or the download token of the model in the path (``auth.function_download_token``).

    The id is read from the raw path, so a malformed one is refused 401 like any request without a token."""
    api_token = request.app.state.api_token
    presented = bearer_token(request.headers.get("authorization"))
    model_id = str(request.path_params.get("model_id", ""))
    if presented is not None and model_id.isdigit() and 0 < int(model_id) <= MAX_ID:
        expected = model_download_token(request.app.state.services.db, api_token, int(model_id))
        if expected is not None and token_matches(presented, expected):
            return
    refusal = token_refusal(request.headers.get("authorization"), api_token)
    if refusal is not None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, refusal, headers={"WWW-Authenticate": "Bearer"})


def model_id_from_path(
    request: Request,
    model_id: str = Path(description="a model id, or a model name (its latest version)"),
) -> int:
    """The id of the model named in the path by id or by name (ModelNotFound: 404 for an unknown name)."""
    return resolve_model(request.app.state.services, model_id)


ModelId = Annotated[int, Depends(model_id_from_path)]
