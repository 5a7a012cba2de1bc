"""The probe heads: the sparse pretrained-class probe, and the cross-validated choice of a head."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainer.probe import ProbeChoice, fit_probe_head, sparse_logistic_regression, stratified_folds


def _objective(inputs, labels, weight, bias, l1) -> float:
    return float(nn.functional.cross_entropy(inputs @ weight.T + bias, labels) + l1 * weight.abs().sum())


def test_sparse_regression_finds_the_few_informative_inputs_at_the_optimum() -> None:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(300) % 3
    inputs = torch.randn(300, 40, generator=generator) + 5  # uncentred, as logits are
    for label, column in enumerate((4, 17, 31)):  # each class shows in one input only
        inputs[labels == label, column] += 3
    weight, bias = sparse_logistic_regression(inputs, labels, 3, l1=0.05)

    used = weight.abs().sum(0).nonzero().flatten().tolist()
    assert used == [4, 17, 31]
    assert float(((inputs @ weight.T + bias).argmax(1) == labels).float().mean()) >= 0.95
    # FISTA's answer is the optimum: a long Adam run from it does not lower the objective.
    refined_weight, refined_bias = weight.clone().requires_grad_(), bias.clone().requires_grad_()
    optimizer = torch.optim.Adam([refined_weight, refined_bias], lr=1e-3)
    for _ in range(500):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(inputs @ refined_weight.T + refined_bias, labels)
        (loss + 0.05 * refined_weight.abs().sum()).backward()
        optimizer.step()
    found = _objective(inputs, labels, weight, bias, 0.05)
    assert found <= _objective(inputs, labels, refined_weight.detach(), refined_bias.detach(), 0.05) + 1e-4


def test_class_weights_weigh_the_loss_as_cross_entropy_does() -> None:
    generator = torch.Generator().manual_seed(1)
    labels = torch.tensor([0] * 40 + [1] * 8)
    inputs = torch.randn(48, 5, generator=generator)
    inputs[labels == 1, 0] += 1.0  # overlapping classes: the weights move the boundary
    plain = sparse_logistic_regression(inputs, labels, 2, l1=1e-3)
    weighted = sparse_logistic_regression(inputs, labels, 2, l1=1e-3, class_weights=torch.tensor([0.2, 1.0]))
    predicted_minority = [int(((inputs @ w.T + b).argmax(1) == 1).sum()) for w, b in (plain, weighted)]
    assert predicted_minority[1] > predicted_minority[0]


def _pretrained_world(
    seed: int, informative: bool, samples: int = 40
) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    """A 'pretrained' 10-class head over 64 features, and a 2-class collection drawn with seed.

    informative: the collection's classes are two of the pretrained classes (along their rows of the head),
    under large nuisance variation in the 54 directions the head ignores, as a head trained on far more
    images learns to; otherwise the classes differ along a direction the head ignores, and the nuisance is
    small.
    """
    generator = torch.Generator().manual_seed(0)  # the same head and directions in every draw
    head = nn.Linear(64, 10)
    with torch.no_grad():
        head.weight.copy_(torch.randn(10, 64, generator=generator))
        head.bias.zero_()
    rows = head.weight.detach()
    basis, _ = torch.linalg.qr(torch.cat([rows.T, torch.randn(64, 54, generator=generator)], 1))
    unseen = basis[:, 10:]  # orthonormal, orthogonal to every row of the head
    generator.manual_seed(seed)
    labels = torch.arange(samples) % 2
    if informative:
        centres = rows[[3, 7]] * 0.1
        nuisance = torch.randn(samples, 54, generator=generator) * 3 @ unseen.T
    else:
        centres = torch.stack([unseen[:, 0], -unseen[:, 0]]) * 1.5
        nuisance = torch.randn(samples, 53, generator=generator) * 0.5 @ unseen[:, 1:].T
    noise = 0.3 * torch.randn(samples, 64, generator=generator)
    return head, centres[labels] + nuisance + noise, labels


def _held_out_accuracy(choice: ProbeChoice, informative: bool) -> float:
    _, features, labels = _pretrained_world(100, informative, samples=400)
    return float(((features @ choice.weight.T + choice.bias).argmax(1) == labels).float().mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_choice_takes_the_pretrained_classes_when_they_are_the_collection_s_classes(seed: int) -> None:
    head, features, labels = _pretrained_world(seed, informative=True)
    choice = fit_probe_head(features, labels, 2, pretrained_head=head)
    assert choice.name.startswith("pretrained classes")
    assert len(choice.cv_losses) == 4 and choice.cv_losses[choice.name] == min(choice.cv_losses.values())
    # The head is a mix of the pretrained rows folded into one layer over the features; the feature probe
    # alone, misled by the nuisance, does far worse on new images.
    assert _held_out_accuracy(choice, informative=True) >= 0.9
    alone = fit_probe_head(features, labels, 2)
    assert alone.name == "features" and _held_out_accuracy(alone, informative=True) < 0.8


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_choice_keeps_the_feature_probe_when_the_pretrained_head_cannot_see_the_classes(
    seed: int,
) -> None:
    head, features, labels = _pretrained_world(seed, informative=False)
    choice = fit_probe_head(features, labels, 2, pretrained_head=head)
    assert choice.name == "features"
    assert _held_out_accuracy(choice, informative=False) >= 0.95


def test_without_a_pretrained_head_or_with_too_few_images_the_feature_probe_is_fitted_alone() -> None:
    head, features, labels = _pretrained_world(0, informative=True)
    assert fit_probe_head(features, labels, 2).name == "features"
    one_bee = fit_probe_head(features[:3], torch.tensor([0, 0, 1]), 2, pretrained_head=head)
    assert one_bee.name == "features" and one_bee.cv_losses == {}  # a class of 1 cannot be cross-validated


def test_folds_are_stratified_and_deterministic() -> None:
    labels = torch.tensor([0] * 12 + [1] * 7)
    folds = stratified_folds(labels, 5)
    assert torch.equal(folds, stratified_folds(labels, 5))
    for fold in range(5):
        assert int(((folds == fold) & (labels == 0)).sum()) in (2, 3)
        assert int(((folds == fold) & (labels == 1)).sum()) in (1, 2)
