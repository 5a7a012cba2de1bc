"""CVAT integration: cvat-sdk client, task/project import, tagging a task, cvat-cli function module."""
