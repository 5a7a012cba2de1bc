"""The domain errors: what went wrong, in words for the user, without HTTP.

Each module raises a subclass of one kind; ``cvat_bridge.api.errors`` maps each kind to one status (the API)
and the CLI prints the message. Anything else raised is a bug and answers 500.
"""

from __future__ import annotations


class DomainError(Exception):
    """An expected failure whose message tells the user what is wrong and what to change."""


class NotFound(DomainError, LookupError):
    """What was asked for does not exist (404)."""


class Conflict(DomainError):
    """The request does not fit the current state of what it names (409)."""


class Invalid(DomainError, ValueError):
    """The request is well-formed but cannot be done as asked (422)."""


class BadRequest(Invalid):
    """The request itself is malformed: a form field, an unknown option value (400)."""


class TooLarge(Invalid):
    """The request is past one of the size limits (413)."""


class Unavailable(DomainError):
    """A part the request needs (the queue, CVAT, Nuclio) is down or not configured (503)."""

    retry_after_seconds: int | None = None  # set: the client may try again after this long


class UpstreamError(DomainError):
    """A server the bridge talks to (CVAT, Nuclio) answered with an error or refused our credentials (502)."""
