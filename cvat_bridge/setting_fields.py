"""The fields of a settings model (`trainer.config.TrainSettings`) as the CLI and the Train page show them:
one description, so `cvat-bridge train --help` and the page's advanced settings never drift from the model."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel


@dataclass(frozen=True)
class SettingField:
    name: str
    kind: type  # bool, int, float or str (a choice)
    choices: tuple[str, ...]  # a Literal's values; empty otherwise
    default: Any  # None: the trainer decides (the description says how)
    label: str
    description: str
    minimum: float | None
    maximum: float | None
    mode: str | None  # "classification" or "multi": the one mode it applies to; None: every mode

    @property
    def widget(self) -> str:
        """The page's input: checkbox, select or number."""
        if self.kind is bool:
            return "checkbox"
        return "select" if self.choices else "number"

    @property
    def input_id(self) -> str:
        """The page's element id: `s-` and the name in kebab case."""
        return "s-" + self.name.replace("_", "-")


def setting_fields(settings: type[BaseModel]) -> list[SettingField]:
    """Every field of settings, in declaration order."""
    fields = []
    for name, field in settings.model_fields.items():
        kind = _base_type(field.annotation)
        choices = tuple(typing.get_args(kind)) if typing.get_origin(kind) is Literal else ()
        fields.append(
            SettingField(
                name=name,
                kind=str if choices else kind,
                choices=choices,
                default=field.default,
                label=field.title or name.replace("_", " ").capitalize(),
                description=field.description or "",
                minimum=_bound(field.metadata, ("ge", "gt")),
                maximum=_bound(field.metadata, ("le", "lt")),
                mode=extra.get("mode") if isinstance(extra := field.json_schema_extra, dict) else None,
            )
        )
    return fields


def _base_type(annotation: Any) -> Any:
    """int for `int | None`; the annotation itself otherwise."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (kind,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return kind
    return annotation


def _bound(metadata: list[Any], names: tuple[str, ...]) -> float | None:
    """The field's lower (ge/gt) or upper (le/lt) bound; strictness is left to the server's validation."""
    for constraint in metadata:
        if isinstance(constraint, annotated_types.BaseMetadata):
            for name in names:
                value = getattr(constraint, name, None)
                if value is not None:
                    return value
    return None
