"""`cvat-bridge` commands: cvat."""

from cvat_bridge.cli import main  # noqa: F401
