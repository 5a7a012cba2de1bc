"""`cvat-bridge collections ...`"""

from cvat_bridge.cli import main  # noqa: F401
