"""The CLI's one error rule: a domain error from any command (not found, conflict, invalid...) is its message
and exit status 1, with no traceback; any other exception is a bug and is not dressed up as a message."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import cvat_bridge.cli.models
from cvat_bridge.cli import main
from cvat_bridge.services import Services


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "show", "nope"], "no model named 'nope'"),
        (["predict", "42", "tests/data"], "no model with id 42"),
        (["collections", "show", "42"], "no collection with id 42"),
        (["loop", "status", "42"], "no loop with id 42"),
        (["function", "export", "nope", "folder"], "no model named 'nope'"),
    ],
)
def test_domain_errors_are_messages(services: Services, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert "Traceback" not in result.output


def test_a_bug_is_not_turned_into_a_message(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise KeyError("function_name")

    monkeypatch.setattr(cvat_bridge.cli.models, "resolve_model", broken)
    result = CliRunner().invoke(main, ["models", "show", "1"])
    assert isinstance(result.exception, KeyError)
