"""`cvat-bridge` commands: models."""

from cvat_bridge.cli import main  # noqa: F401
