"""The Train page's advanced settings and `cvat-bridge train`'s options come from TrainSettings: every field
is offered, with its default, bounds and choices, so a setting added to the trainer is never missing there."""

from __future__ import annotations

from html.parser import HTMLParser

from click.testing import CliRunner
from fastapi.testclient import TestClient

from cvat_bridge.cli import main
from trainer.config import TrainSettings


class _SettingInputs(HTMLParser):
    """The page's elements with a data-setting attribute, each select's options and each setting's mode (the
    data-mode of the box around it)."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str | None]] = {}
        self.options: dict[str, list[dict[str, str | None]]] = {}
        self.modes: dict[str, str] = {}  # setting -> the one mode it is shown in
        self._select: str | None = None
        self._mode: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "div":
            self._mode = attributes.get("data-mode")
        if "data-setting" in attributes:
            name = str(attributes["data-setting"])
            self.inputs[name] = {"tag": tag, **attributes}
            if self._mode:
                self.modes[name] = self._mode
            self._select = name if tag == "select" else None
        elif tag == "option" and self._select:
            self.options.setdefault(self._select, []).append(attributes)


def test_train_page_offers_every_setting_with_its_default(client: TestClient) -> None:
    page = _SettingInputs()
    page.feed(client.get("/train").text)
    assert set(page.inputs) == set(TrainSettings.model_fields)
    defaults = TrainSettings()

    flips = page.options["flips"]
    assert [option["value"] for option in flips] == ["auto", "on", "off"]
    assert [option["value"] for option in flips if "selected" in option] == ["auto"]
    assert page.inputs["pretrained"]["type"] == "checkbox" and "checked" in page.inputs["pretrained"]
    assert page.inputs["int8"]["type"] == "checkbox" and "checked" not in page.inputs["int8"]
    epochs = page.inputs["epochs"]
    assert (epochs["type"], epochs["value"], epochs["min"], epochs["max"]) == ("number", "10", "1", "1000")
    assert float(str(page.inputs["learning_rate"]["value"])) == defaults.learning_rate
    assert page.inputs["learning_rate"]["step"] == "any"
    assert "value" not in page.inputs["image_size"]  # None: the architecture's size, left to the trainer
    assert page.modes == {"threshold": "multi", "threshold_folds": "multi", "int8": "classification"}
    for name, element in page.inputs.items():
        default = getattr(defaults, name)
        if element["tag"] == "select":
            chosen = [option["value"] for option in page.options[name] if "selected" in option]
            assert chosen == [default], name
        elif element["type"] == "checkbox":
            assert ("checked" in element) == default, name
        elif default is not None:
            assert float(str(element["value"])) == default, name


def test_train_command_offers_every_setting() -> None:
    help_text = CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output
    for name in TrainSettings.model_fields:
        assert "--" + name.replace("_", "-") in help_text, name
    assert "[auto|on|off]" in help_text
    assert "--freeze-batchnorm / --no-freeze-batchnorm" in help_text
