"""Linear probes: a new classifier head fitted on the frozen backbone's features (the "LP" of LP-FT).

Two kinds of head, both an `nn.Linear` over the backbone's features:
- the feature probe: L2-regularised multinomial logistic regression on the features;
- the pretrained-class probe (when the backbone comes with its pretrained classifier): L1-regularised
  logistic regression on the pretrained classifier's logits, so each new class is a sparse mix of the
  pretrained classes (ants: mostly ImageNet's "ant"), folded back into one head over the features. On a small
  collection whose classes the pretraining saw, it keeps what the pretrained classifier learned from far more
  images than the collection has.
`fit_probe_head` fits every candidate and keeps the one with the lowest cross-validated loss on the train
features (k folds, stratified): the choice never looks at the validation split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

FEATURE_L2 = 1e-3  # L2 penalty on the feature probe (per mean loss): keeps its logits at a sane scale
FEATURE_STEPS = 200  # L-BFGS iterations at most; a linear probe on a few thousand features converges in fewer
CLASS_L1 = (0.01, 0.03, 0.1)  # L1 penalties tried for the pretrained-class probe (per mean loss)
CLASS_STEPS = 500  # FISTA iterations (measured: the objective settles within 300 on hymenoptera)
FOLDS = 5

Head = tuple[torch.Tensor, torch.Tensor]  # (weight [classes, features], bias [classes])
Fit = Callable[[torch.Tensor, torch.Tensor], Head]  # (features, labels) -> head


@dataclass(frozen=True)
class ProbeChoice:
    """The fitted head and how it was chosen (the candidates' cross-validated losses, lowest wins)."""

    weight: torch.Tensor
    bias: torch.Tensor
    name: str
    cv_losses: dict[str, float]


def fit_probe_head(
    features: torch.Tensor,
    labels: torch.Tensor,
    classes: int,
    class_weights: torch.Tensor | None = None,
    pretrained_head: nn.Linear | None = None,
    check_cancelled: Callable[[], None] = lambda: None,
) -> ProbeChoice:
    """The head (fitted on all of features) of the candidate with the lowest cross-validated loss.

    check_cancelled is called between fits (each takes seconds on a large collection).
    """
    weights = class_weights.to(features.device) if class_weights is not None else None
    candidates: dict[str, Fit] = {
        "features": lambda x, y: fit_feature_probe(x, y, classes, weights),
    }
    if pretrained_head is not None:
        for l1 in CLASS_L1:
            candidates[f"pretrained classes (L1 {l1})"] = _class_probe(pretrained_head, classes, l1, weights)
    losses = {}
    if len(candidates) > 1 and _can_cross_validate(labels):
        losses = {
            name: cross_validated_loss(fit, features, labels, weights, check_cancelled)
            for name, fit in candidates.items()
        }
    name = min(losses, key=losses.__getitem__) if losses else "features"
    weight, bias = candidates[name](features, labels)
    return ProbeChoice(weight, bias, name, losses)


def fit_feature_probe(
    features: torch.Tensor, labels: torch.Tensor, classes: int, class_weights: torch.Tensor | None = None
) -> Head:
    """L2-regularised multinomial logistic regression of labels on features (float32, L-BFGS from zero)."""
    weight = torch.zeros(classes, features.shape[1], device=features.device, requires_grad=True)
    bias = torch.zeros(classes, device=features.device, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1, max_iter=FEATURE_STEPS, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = features @ weight.T + bias
        loss = nn.functional.cross_entropy(logits, labels, weight=class_weights)
        loss = loss + FEATURE_L2 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def sparse_logistic_regression(
    inputs: torch.Tensor,
    labels: torch.Tensor,
    classes: int,
    l1: float,
    class_weights: torch.Tensor | None = None,
) -> Head:
    """Multinomial logistic regression with an L1 penalty on the weights (not the bias), by FISTA.

    The loss is the (class-weighted) mean cross-entropy, as `nn.functional.cross_entropy` computes it. The
    step is 1/L with L a bound on the loss gradient's Lipschitz constant: the softmax Hessian is at most 1/2,
    so L <= ||X||^2 / 2 for X the weighted, centred inputs with a column of ones for the bias.
    """
    sample_weights = class_weights[labels] if class_weights is not None else torch.ones_like(labels).float()
    sample_weights = sample_weights / sample_weights.sum()
    mean = sample_weights @ inputs
    centred = inputs - mean  # the bias absorbs the mean: a much smaller L, so a much longer step
    with_bias = torch.cat([centred, torch.ones_like(centred[:, :1])], 1) * sample_weights.sqrt()[:, None]
    step = 2 / torch.linalg.matrix_norm(with_bias, 2).square().item()
    targets = nn.functional.one_hot(labels, classes).to(inputs.dtype)

    weight = torch.zeros(classes, inputs.shape[1], device=inputs.device, dtype=inputs.dtype)
    bias = torch.zeros(classes, device=inputs.device, dtype=inputs.dtype)
    momentum_weight, momentum_bias, t = weight, bias, 1.0
    for _ in range(CLASS_STEPS):
        probabilities = torch.softmax(centred @ momentum_weight.T + momentum_bias, 1)
        gradient = (probabilities - targets) * sample_weights[:, None]
        next_weight = momentum_weight - step * (gradient.T @ centred)
        next_weight = next_weight.sign() * (next_weight.abs() - step * l1).clamp(min=0)  # L1 proximal step
        next_bias = momentum_bias - step * gradient.sum(0)
        next_t = (1 + (1 + 4 * t * t) ** 0.5) / 2
        momentum_weight = next_weight + (t - 1) / next_t * (next_weight - weight)
        momentum_bias = next_bias + (t - 1) / next_t * (next_bias - bias)
        weight, bias, t = next_weight, next_bias, next_t
    return weight, bias - weight @ mean


def cross_validated_loss(
    fit: Fit,
    features: torch.Tensor,
    labels: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    check_cancelled: Callable[[], None] = lambda: None,
) -> float:
    """Mean held-out cross-entropy of fit over FOLDS stratified folds (deterministic)."""
    folds = stratified_folds(labels, FOLDS)
    total = 0.0
    for fold in range(FOLDS):
        held_out = folds == fold
        if not held_out.any():  # classes smaller than FOLDS leave the last folds empty
            continue
        check_cancelled()
        weight, bias = fit(features[~held_out], labels[~held_out])
        logits = features[held_out] @ weight.T + bias
        loss = nn.functional.cross_entropy(logits, labels[held_out], weight=class_weights)
        total += float(loss) * int(held_out.sum())
    return total / len(labels)


def stratified_folds(labels: torch.Tensor, folds: int) -> torch.Tensor:
    """Fold number of each sample: every class dealt round-robin over the folds (order as given)."""
    fold = torch.empty_like(labels)
    for label in labels.unique():
        members = (labels == label).nonzero().flatten()
        fold[members] = torch.arange(len(members), device=labels.device) % folds
    return fold


def _can_cross_validate(labels: torch.Tensor) -> bool:
    """Every training fold holds every class (round-robin folds: each class needs 2 samples)."""
    return int(labels.bincount().min()) >= 2


def _class_probe(
    pretrained_head: nn.Linear, classes: int, l1: float, class_weights: torch.Tensor | None
) -> Fit:
    """Fit of the pretrained-class probe: (A, c) on the pretrained logits, folded into (A W0, A b0 + c)."""
    pretrained_weight = pretrained_head.weight.detach().float()
    pretrained_bias = (
        pretrained_head.bias.detach().float()
        if pretrained_head.bias is not None
        else torch.zeros(pretrained_head.out_features, device=pretrained_weight.device)
    )

    def fit(features: torch.Tensor, labels: torch.Tensor) -> Head:
        weight, bias = pretrained_weight.to(features.device), pretrained_bias.to(features.device)
        logits = features @ weight.T + bias
        mix, offset = sparse_logistic_regression(logits, labels, classes, l1, class_weights)
        return mix @ weight, mix @ bias + offset

    return fit
