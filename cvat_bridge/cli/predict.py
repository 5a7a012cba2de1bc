"""`cvat-bridge` commands: predict."""

from cvat_bridge.cli import main  # noqa: F401
