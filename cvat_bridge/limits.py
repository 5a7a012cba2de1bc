"""The fixed limits every input is held to, in one place (the limits a deployment may change are Settings
fields: upload sizes, pixels, files per request)."""

from __future__ import annotations

MAX_ID = 2**31 - 1  # ids are PostgreSQL INTEGERs: a larger one names nothing (and must not reach SQL)
MAX_NAME_LENGTH = 200  # characters of a collection, model or class name (their String(200) columns)
MAX_FILE_NAME_BYTES = 255  # one file or folder name in a path (NAME_MAX of Linux file systems)
MAX_PATH_BYTES = 1024  # a path inside a zip (well below PATH_MAX, 4096, with the data dir in front)
MAX_JSON_BYTES = 1024**2  # a JSON request body (and any body of a route that declares no limit of its own)
MAX_FORM_FIELDS = 16  # non-file fields of one upload form
MAX_FIELD_BYTES = 64 * 1024  # one non-file field of an upload form
FORM_ROOM = MAX_FORM_FIELDS * MAX_FIELD_BYTES  # room in an upload's body for its fields and part headers
MAX_REPORT_ITEMS = 200  # report lists (skipped files, duplicate groups) are cut here; their totals are kept
MAX_GROUP_PATHS = 20  # paths listed per duplicate group (its size is kept)
# Pixels of one image by default (Settings.max_image_pixels; a /predict request: 4x this). The Nuclio function
# cannot import this module: runtime/imaging.py keeps DEFAULT_MAX_PIXELS, tests/test_ids_and_limits.py
# checks that they agree.
MAX_IMAGE_PIXELS = 64_000_000


def name_problem(name: str) -> str | None:
    """What keeps ``name`` (of a collection, model or class) from being stored alike on SQLite and
    PostgreSQL, or None: longer than MAX_NAME_LENGTH characters, or holding a NUL (PostgreSQL text cannot)."""
    if len(name) > MAX_NAME_LENGTH:
        return f"longer than {MAX_NAME_LENGTH} characters"
    if "\x00" in name:
        return "holds a NUL character"
    return None
