"""checkpoint.pt: the state at the end of the last epoch, written after every epoch, read to resume.

A resumed training continues the same model (same folder) from the epoch after the checkpoint's, with the
model, optimizer, scheduler and grad-scaler states, the best epoch so far (its val scores: epoch 0, the probe
head, is not in the history), the history, the patience count and the run's decisions from its train split
(flips, probe head): the train images are not examined again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainer import artifacts


class NoCheckpoint(ValueError):
    """There is no checkpoint to resume from (message meant for the user)."""


@dataclass
class Resumed:
    """What a resumed training starts from."""

    epoch: int  # the last finished epoch; training continues with epoch + 1
    best: dict[str, Any]  # {"epoch", "val_loss", "val_accuracy"} of the best epoch so far
    history: list[dict[str, Any]]
    epochs_without_improvement: int
    decisions: dict[str, Any]  # what the first run chose from its train split (metrics["recipe"])
    states: dict[str, Any]  # name -> state dict (model, optimizer, scheduler, scaler)

    def restore(self, targets: dict[str, Any]) -> None:
        """Load each target (name -> object with load_state_dict) from its saved state."""
        for name, target in targets.items():
            if name in self.states:
                target.load_state_dict(self.states[name])


def save_checkpoint(
    out_dir: Path,
    states: dict[str, Any],
    *,
    epoch: int,
    best: dict[str, Any],
    history: list[dict[str, Any]],
    epochs_without_improvement: int,
    decisions: dict[str, Any],
) -> None:
    """Write checkpoint.pt atomically. states: name -> object with state_dict() (model, optimizer, ...)."""
    artifacts.save_torch(
        {
            **{name: _state(value) for name, value in states.items()},
            "epoch": epoch,
            "best_epoch": best["epoch"],
            "best": {key: best[key] for key in ("epoch", "val_loss", "val_accuracy")},
            "history": history,
            "epochs_without_improvement": epochs_without_improvement,
            "decisions": decisions,
        },
        out_dir / artifacts.CHECKPOINT,
    )


def load_checkpoint(out_dir: Path) -> Resumed:
    """out_dir's checkpoint.pt (tensors on the CPU; load_state_dict moves them to the model's device)."""
    path = out_dir / artifacts.CHECKPOINT
    if not path.is_file():
        raise NoCheckpoint(f"there is no {artifacts.CHECKPOINT} to resume from (no epoch had finished)")
    data = torch.load(path, map_location="cpu", weights_only=True)
    names = ("model", "optimizer", "scheduler", "scaler")
    return Resumed(
        epoch=data["epoch"],
        best=data["best"],
        history=data["history"],
        epochs_without_improvement=data["epochs_without_improvement"],
        decisions=data["decisions"],
        states={name: data[name] for name in names if name in data},
    )


def _state(value: Any) -> dict[str, Any]:
    if isinstance(value, nn.Module):  # on the CPU, so a checkpoint loads on any device
        return {
            key: tensor.detach().to("cpu", copy=True).contiguous()
            for key, tensor in value.state_dict().items()
        }
    return value.state_dict()
