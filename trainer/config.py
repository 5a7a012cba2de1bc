"""Training settings: good defaults, validated before a job is queued."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TrainSettings(BaseModel):
    """What a user may tune. Unknown keys are refused (a typo must not silently train with defaults). A field
    with a "mode" in its schema extra applies to that mode only (the Train page shows it for that mode)."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(
        10, title="Epochs", ge=1, le=1000, description="training epochs at most (see patience)"
    )
    batch_size: int = Field(32, title="Batch size", ge=1, le=4096, description="images per training step")
    image_size: int | None = Field(
        None, title="Image size (px)", ge=32, le=1024, description="input size; default: the architecture's"
    )
    learning_rate: float = Field(
        1e-3,
        title="Learning rate",
        gt=0,
        le=10,
        description="peak AdamW learning rate (backbone: x backbone_lr_scale)",
    )
    weight_decay: float = Field(1e-4, title="Weight decay", ge=0, le=1, description="AdamW weight decay")
    pretrained: bool = Field(
        True, title="Start from pretrained ImageNet weights", description="start from ImageNet weights"
    )
    seed: int = Field(0, title="Seed", ge=0, description="one seed for weights, shuffling and augmentation")
    patience: int = Field(
        5,
        title="Early stopping patience (epochs, 0: off)",
        ge=0,
        description="stop after this many epochs without a higher val accuracy; 0: never",
    )
    imbalance: Literal["weighted_loss", "sampler", "none"] = Field(
        "weighted_loss",
        title="Class imbalance",
        description="weighted_loss: loss weights by the square root of inverse class frequency; "
        "sampler: class-balanced batches; none",
    )
    augmentation: Literal["none", "light", "strong"] = Field(
        "light",
        title="Augmentation",
        description="light: random-resized crops (+ flips); strong: + TrivialAugment; none",
    )
    flips: Literal["auto", "on", "off"] = Field(
        "auto",
        title="Horizontal flips",
        description="horizontal flips in the augmentation; auto: on unless the train images show that "
        "mirroring changes the class (digits, letters, arrows)",
    )
    # Fine-tuning recipe for a pretrained backbone (trainer/recipe.py; defaults chosen in bench/quality).
    linear_probe: bool = Field(
        True,
        title="Linear probe as epoch 0",
        description="fit a linear head on the frozen pretrained features first; it is kept ('epoch 0') "
        "when no fine-tuned epoch beats it",
    )
    head_init: Literal["random", "probe"] = Field(
        "random",
        title="Head fine-tuning starts from",
        description="the head fine-tuning starts from: random, or the linear probe's (LP-FT)",
    )
    warmup_epochs: int = Field(
        0, title="Head-only warm-up epochs", ge=0, le=1000, description="first epochs train the new head only"
    )
    backbone_lr_scale: float = Field(
        1.0,
        title="Backbone learning-rate scale",
        ge=0,
        le=1,
        description="backbone learning rate = learning_rate x this (0: head only)",
    )
    freeze_batchnorm: bool = Field(
        False, title="Freeze BatchNorm statistics", description="BatchNorm keeps its pretrained statistics"
    )
    int8: bool = Field(
        False,
        title="Also export an int8 model",
        json_schema_extra={"mode": "classification"},
        description="also export model.int8.onnx (calibrated on train images), served on a CPU",
    )
    threshold: float | None = Field(
        None,
        title="Multi-label threshold",
        json_schema_extra={"mode": "multi"},
        gt=0,
        lt=1,
        description="multi-label: one decision threshold for every label; default: per label, chosen on the "
        "train split by maximising F1",
    )
    threshold_folds: int = Field(
        3,
        title="Multi-label threshold folds",
        json_schema_extra={"mode": "multi"},
        ge=0,
        le=10,
        description="multi-label: per-label thresholds are chosen on cross-fitted train predictions (this "
        "many extra models, each trained on the other folds, predict the fold they did not see); 0: on the "
        "model's own train predictions (no extra training, over-confident)",
    )
    num_workers: int | None = Field(
        None,
        title="Data loader processes",
        ge=0,
        le=64,
        description="data loader processes; default: automatic",
    )

    @field_validator("threshold_folds")
    @classmethod
    def _folds(cls, value: int) -> int:
        if value == 1:
            raise ValueError("threshold_folds must be 0 (no cross-fitting) or at least 2")
        return value
