"""The dashboard client against the stand-in and against nothing: answers and errors a user can act on."""

from __future__ import annotations

import pytest

from cvat_bridge.functions.nuclio import NuclioDashboard, NuclioError, with_project
from tests.standins import free_port
from tests.standins.nuclio import NuclioStandin

CONFIG = {
    "metadata": {"name": "fn-a", "annotations": {"type": "detector", "version": 3, "spec": "[]"}},
    "spec": {"description": "d", "build": {"codeEntryType": "archive", "path": "http://127.0.0.1:9/x.zip"}},
}


def test_unreachable_dashboard_says_where_it_looked() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with NuclioDashboard(url, timeout=5) as dashboard, pytest.raises(NuclioError, match="cannot reach"):
        dashboard.list_functions()


def test_deploy_lists_and_deletes_in_project_cvat() -> None:
    with NuclioStandin() as nuclio, NuclioDashboard(nuclio.url) as dashboard:
        dashboard.deploy(CONFIG)
        assert nuclio.posted == [with_project(CONFIG)]
        assert nuclio.posted[0]["metadata"]["annotations"]["version"] == "3"
        assert set(dashboard.list_functions()) == {"fn-a"}
        dashboard.deploy(CONFIG)  # a second deploy of the same name is a redeploy (PUT), not a conflict
        assert len(nuclio.posted) == 2
        assert dashboard.delete_function("fn-a") is True
        assert dashboard.delete_function("fn-a") is False
        assert dashboard.get_function("fn-a") is None


def test_refused_config_reports_the_dashboards_reason() -> None:
    broken = {"metadata": {"name": "fn-b", "annotations": {}}, "spec": {}}
    with NuclioStandin() as nuclio, NuclioDashboard(nuclio.url) as dashboard:
        with pytest.raises(NuclioError, match="400.*description"):
            dashboard.deploy(broken)
