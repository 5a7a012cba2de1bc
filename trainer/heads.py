"""The classifier head of a catalogue model: its last Linear layer (every catalogue model ends in one)."""

from __future__ import annotations

from torch import nn


def replace_classifier(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the last Linear layer (the ImageNet head of every catalogue model) for one with num_classes."""
    parent_name, attribute, head = _last_linear(model)
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attribute, nn.Linear(head.in_features, num_classes, bias=head.bias is not None))
    return model


def classifier_head(model: nn.Module) -> nn.Linear:
    """The classifier head: the last Linear layer of every catalogue model."""
    return _last_linear(model)[2]


def _last_linear(model: nn.Module) -> tuple[str, str, nn.Linear]:
    linears = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no Linear classifier head")
    name, module = linears[-1]
    parent_name, _, attribute = name.rpartition(".")
    return parent_name, attribute, module
