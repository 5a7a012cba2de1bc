"""The Nuclio function source of every cvat-bridge model (rendered per model version by
``cvat_bridge.functions.render``; not imported by the service itself)."""
