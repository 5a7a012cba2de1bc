"""Dependencies shared by the routes: the services and the bearer-token check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cvat_bridge.auth import function_download_token, token_matches
from cvat_bridge.services import Services
from cvat_bridge.training import ModelNotFound, resolve_model

_bearer = HTTPBearer(auto_error=False)


async def services(request: Request) -> Services:
    return request.app.state.services


async def require_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not token_matches(credentials.credentials, request.app.state.api_token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong API token", headers={"WWW-Authenticate": "Bearer"}
        )


async def require_token_or_download_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    """The API token, or the download token of the model in the path (``auth.function_download_token``)."""
    model_id = str(request.path_params.get("model_id", ""))
    if credentials is not None and model_id.isdigit():
        expected = function_download_token(request.app.state.api_token, int(model_id))
        if token_matches(credentials.credentials, expected):
            return
    await require_token(request, credentials)


def model_id_from_path(
    request: Request,
    model_id: str = Path(description="a model id, or a model name (its latest version)"),
) -> int:
    """The id of the model named in the path by id or by name (404 for an unknown name)."""
    try:
        return resolve_model(request.app.state.services, model_id)
    except ModelNotFound as exc:
        raise HTTPException(404, str(exc)) from None


ModelId = Annotated[int, Depends(model_id_from_path)]
