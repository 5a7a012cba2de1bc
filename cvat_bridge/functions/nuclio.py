"""A small client of the Nuclio dashboard's REST API (the one CVAT's lambda manager talks to).

POST   /api/functions              deploy a new function (answered 202; the build runs in the background)
PUT    /api/functions/{name}       redeploy an existing one
GET    /api/functions/{name}       its configuration and ``status.state`` (building, ready, error, ...)
GET    /api/functions              all functions of the project named in ``x-nuclio-project-name``
DELETE /api/functions              body ``{"metadata": {"name", "namespace"}}``
"""

from __future__ import annotations

from typing import Any

import httpx

from cvat_bridge.errors import UpstreamError
from cvat_bridge.masking import mask_secrets

PROJECT = "cvat"  # CVAT lists only the functions of this Nuclio project
PROJECT_LABEL = "nuclio.io/project-name"


class NuclioError(UpstreamError):
    """The dashboard could not be reached or refused the request; the message says which and why."""


class NuclioDashboard:
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url, timeout=timeout, headers={"x-nuclio-project-name": PROJECT}
        )

    def __enter__(self) -> NuclioDashboard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    def get_function(self, name: str) -> dict[str, Any] | None:
        """The function's configuration and status, or None when the dashboard has no such function."""
        response = self._request("GET", f"/api/functions/{name}", allow=(404,))
        return None if response.status_code == 404 else response.json()

    def list_functions(self) -> dict[str, dict[str, Any]]:
        """Name -> configuration and status of every function in project ``cvat``."""
        return self._request("GET", "/api/functions").json()

    def deploy(self, config: dict[str, Any]) -> None:
        """Create the function, or redeploy it when one of that name exists; returns once accepted."""
        config = with_project(config)
        name = config["metadata"]["name"]
        if self.get_function(name) is None:
            self._request("POST", "/api/functions", json=config)
        else:
            self._request("PUT", f"/api/functions/{name}", json=config)

    def delete_function(self, name: str) -> bool:
        """Remove the function; False when the dashboard had none of that name."""
        response = self._request("DELETE", "/api/functions", json={"metadata": {"name": name}}, allow=(404,))
        return response.status_code != 404

    def _request(self, method: str, path: str, allow: tuple[int, ...] = (), **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise NuclioError(
                mask_secrets(f"cannot reach the Nuclio dashboard at {self.url}: {exc}")
            ) from exc
        if response.is_error and response.status_code not in allow:
            raise NuclioError(  # its answer may quote the function config: the download token
                mask_secrets(
                    f"the Nuclio dashboard answered {method} {path} with {response.status_code}: "
                    f"{response.text.strip()[:500] or response.reason_phrase}"
                )
            )
        return response


def with_project(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration as the dashboard takes it: in project ``cvat``; annotation values as strings
    (Nuclio's annotations are a string map; CVAT reads ``version`` with int()); and no namespace, so the
    dashboard puts the function in its default namespace, the one CVAT lists (CVAT_NUCLIO_FUNCTION_NAMESPACE,
    ``nuclio``); the ``namespace: cvat`` of function.yaml is what `nuctl deploy` overrides the same way."""
    metadata = {key: value for key, value in config["metadata"].items() if key != "namespace"}
    metadata["labels"] = dict(metadata.get("labels") or {}) | {PROJECT_LABEL: PROJECT}
    metadata["annotations"] = {key: str(value) for key, value in metadata.get("annotations", {}).items()}
    return {**config, "metadata": metadata}
