"""The training loss within an epoch, step by step, kept small: at most ``MAX_POINTS`` points per epoch (the
mean loss of consecutive steps), fewer in long runs (``MAX_POINTS_IN_ALL`` over all epochs, 2 per epoch at
least), recorded in each epoch's history row as ``step_losses`` and, while the epoch runs, sent with its
progress reports (the charts draw them live)."""

from __future__ import annotations

import math

MAX_POINTS = 50
MAX_POINTS_IN_ALL = 2000


class StepLosses:
    """Collects one epoch's step losses; ``take`` hands them over as ``[[x, loss], ...]`` and starts afresh.

    x is in epochs (epoch 3, step 5 of 10 is 2.5), so the points share the per-epoch curves' axis."""

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self._points: list[list[float]] = []
        self._sum, self._count = 0.0, 0

    def add(self, epoch: int, step: int, steps: int, loss: float) -> None:
        """The loss of step ``step`` (1-based) of ``steps`` in ``epoch``."""
        self._sum += loss
        self._count += 1
        stride = math.ceil(steps / self.max_points)
        if step % stride == 0 or step == steps:
            x = epoch - 1 + step / steps
            self._points.append([round(x, 4), self._sum / self._count])
            self._sum, self._count = 0.0, 0

    @classmethod
    def for_epochs(cls, epochs: int) -> StepLosses:
        return cls(max(2, min(MAX_POINTS, MAX_POINTS_IN_ALL // max(epochs, 1))))

    def so_far(self) -> list[list[float]]:
        """The running epoch's points until now (a copy)."""
        return list(self._points)

    def take(self) -> list[list[float]]:
        points, self._points = self._points, []
        self._sum, self._count = 0.0, 0
        return points
