"""A training run's progress reports: the phase, the epoch and step, and the time left for everything still
to come (the remaining epochs with their validation passes, BatchNorm re-estimation, evaluation, plots, the
cross-fitted thresholds of a multi-label run, the ONNX export and the int8 copy), estimated from what this run
has measured so far: seconds per training step and seconds per image of a no-gradient pass (the train-image
examination, each validation pass)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Report = Callable[..., None]

REPORT_EVERY_SECONDS = 1.0
# Work that does not grow with the images: the three plots (evaluating), tracing the ONNX graph
# (exporting), ONNX Runtime's quantizer (quantizing). Measured on the 2-core CPU for resnet18: 0.7-1.2 s each.
FIXED_SECONDS = {"evaluating": 1.0, "exporting": 1.0, "quantizing": 1.5}
# Before a no-gradient pass was timed: a forward pass is about a third of a training step's work.
FORWARD_SHARE_OF_STEP = 1 / 3

RECALIBRATING = "re-estimating BatchNorm statistics"
CHOOSING_THRESHOLDS = "choosing thresholds"
FINISH_PHASES = (RECALIBRATING, "evaluating", CHOOSING_THRESHOLDS, "exporting", "quantizing")


@dataclass(frozen=True)
class Workload:
    """What a run will read after its first step, in images or steps."""

    epochs: int
    steps: int  # training steps per epoch
    batch_size: int
    val_images: int
    images_after: dict[str, int]  # finish phase -> images it passes through the model (absent: skipped)
    # finish phase -> training steps it takes per epoch the run keeps (the cross-fit's fold models train for
    # the kept epochs: every epoch until training ends, then the kept epoch's number)
    steps_per_kept_epoch: dict[str, int] = field(default_factory=dict)
    score: str = "accuracy"  # what val_accuracy holds: accuracy, or a multi-label run's mAP


class Progress:
    """Throttled reports (at most one a second, plus one at each epoch's end and each new phase); every report
    carries `eta_seconds` (None while nothing has been timed yet)."""

    def __init__(self, report: Report, workload: Workload) -> None:
        self._report, self._work = report, workload
        self._last = 0.0
        self._seconds_per_image: float | None = None  # of a no-gradient pass
        self._train_seconds, self._steps_done = 0.0, 0  # finished epochs
        self._first_step: float | None = None  # seconds of the run's first step (it starts the loader)
        self._epoch_extra = 0.0  # per epoch, after its validation pass (weights, checkpoint, history)
        self._epoch_started = self._validation_started = self._validated = 0.0
        self._kept_epochs = workload.epochs

    def kept(self, epoch: int) -> None:
        """Training ended, keeping `epoch`'s weights (0: the probe head): what retrains for the kept epochs
        is estimated with that many from now on."""
        self._kept_epochs = epoch

    def examined(self, seconds: float, images: int) -> None:
        """A no-gradient pass over `images` took `seconds` (the train-image examination)."""
        if images:
            self._seconds_per_image = seconds / images

    def start_epoch(self) -> None:
        self._epoch_started = time.monotonic()

    def start_validation(self) -> None:
        now = time.monotonic()
        self._train_seconds += now - self._epoch_started
        self._steps_done += self._work.steps
        self._validation_started = now

    def validated(self) -> None:
        """The validation pass of an epoch is done (it times a no-gradient pass per image)."""
        self._validated = time.monotonic()
        if self._work.val_images:
            self._seconds_per_image = (self._validated - self._validation_started) / self._work.val_images

    def step(
        self,
        epoch: int,
        step: int,
        loss: float,
        images_per_second: float,
        step_losses: Callable[[], list[list[float]]] = list,
    ) -> None:
        """A training step ended; reported (with ``step_losses()``, the epoch's loss curve so far) at most
        once a second."""
        now = time.monotonic()
        if self._first_step is None:
            self._first_step = now - self._epoch_started
        if now - self._last < REPORT_EVERY_SECONDS:
            return
        self._last = now
        step_seconds = self._step_seconds(now, self._steps_done + step)
        steps_left = (self._work.epochs - epoch) * self._work.steps + self._work.steps - step
        self._report(
            phase="training",
            epoch=epoch,
            epochs=self._work.epochs,
            step=step,
            steps=self._work.steps,
            loss=loss,
            images_per_second=images_per_second,
            step_losses=step_losses(),
            eta_seconds=self._estimate(steps_left, self._work.epochs - epoch + 1, step_seconds),
        )

    def epoch_done(
        self, epoch: int, loss: float, val_loss: float, val_accuracy: float, history: list[dict[str, Any]]
    ) -> None:
        """After epoch's validation pass: its scores (`val_epoch` says which epoch they are from)."""
        self._last = time.monotonic()
        epochs_done = self._steps_done // max(self._work.steps, 1)
        self._epoch_extra += (self._last - self._validated - self._epoch_extra) / max(epochs_done, 1)
        epochs_left = self._work.epochs - epoch
        self._report(
            phase="training",
            epoch=epoch,
            epochs=self._work.epochs,
            step=self._work.steps,
            steps=self._work.steps,
            loss=loss,
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            val_score=self._work.score,
            step_losses=[],  # the epoch's curve is in its history row now
            val_epoch=epoch,
            eta_seconds=self._estimate(
                epochs_left * self._work.steps, epochs_left, self._step_seconds(None, self._steps_done)
            ),
            history=history,
        )

    def phase(self, name: str, part: tuple[int, int] | None = None) -> None:
        """A phase reported without its steps: before training (no estimate yet) or one of FINISH_PHASES;
        ``part=(i, n)``: its i-th of n equal parts starts (the cross-fit's folds)."""
        eta, image_seconds = None, self._image_seconds()
        step_seconds = self._step_seconds(None, self._steps_done)
        if name in FINISH_PHASES and image_seconds is not None:
            later = FINISH_PHASES[FINISH_PHASES.index(name) + 1 :]
            this = self._finish_seconds((name,), image_seconds, step_seconds)
            done = part[0] / part[1] if part else 0.0
            eta = this * (1 - done) + self._finish_seconds(later, image_seconds, step_seconds)
        label = f"{name} ({part[0] + 1} of {part[1]})" if part else name
        self._report(phase=label, eta_seconds=eta)

    def _step_seconds(self, now: float | None, steps: int) -> float | None:
        """Seconds per training step, the run's first step left out once there are others."""
        if self._first_step is None:
            return None
        first_seconds = self._first_step
        if steps <= 1:
            return first_seconds
        seconds = self._train_seconds + (now - self._epoch_started if now is not None else 0.0)
        return (seconds - first_seconds) / (steps - 1)

    def _image_seconds(self, step_seconds: float | None = None) -> float | None:
        if self._seconds_per_image is not None:
            return self._seconds_per_image
        step_seconds = step_seconds or self._step_seconds(None, self._steps_done)
        if step_seconds is None:
            return None
        return step_seconds * FORWARD_SHARE_OF_STEP / self._work.batch_size

    def _estimate(self, steps_left: int, validations_left: int, step_seconds: float | None) -> float | None:
        image_seconds = self._image_seconds(step_seconds)
        if step_seconds is None or image_seconds is None:
            return None
        validation = validations_left * (self._work.val_images * image_seconds + self._epoch_extra)
        finish = self._finish_seconds(FINISH_PHASES, image_seconds, step_seconds)
        return steps_left * step_seconds + validation + finish

    def _finish_seconds(
        self, phases: tuple[str, ...], image_seconds: float, step_seconds: float | None
    ) -> float:
        work = self._work
        return sum(
            work.images_after.get(name, 0) * image_seconds
            + work.steps_per_kept_epoch.get(name, 0) * self._kept_epochs * (step_seconds or 0.0)
            + FIXED_SECONDS.get(name, 0.0)
            for name in phases
            if name in work.images_after or name in work.steps_per_kept_epoch
        )
