"""`cvat-bridge` commands: function."""

from cvat_bridge.cli import main  # noqa: F401
