"""`cvat-bridge train` (progress, final metrics, epoch table) and `cvat-bridge models list|show|watch|cancel|
resume|delete`, each taking an id or a name."""

from __future__ import annotations

import re
import time
import typing

from click.testing import CliRunner

from cvat_bridge.cli import main
from cvat_bridge.services import Services
from cvat_bridge.training import create_training, get_model, list_models, start_training
from tests.helpers.models import TINY_SETTINGS, make_color_collection
from trainer.config import TrainSettings

LONG_NAME = "timm/tf_efficientnet_lite0"


def test_train_shows_progress_metrics_and_epochs_then_models_list(services: Services) -> None:
    make_color_collection(services, per_class=6, name="cli-colours")
    runner = CliRunner()
    args = [
        "train",
        "--collection",
        "cli-colours",
        "--architecture",
        "resnet18",
        "--name",
        "cli-model",
        "--epochs",
        "2",
        "--image-size",
        "32",
        "--batch-size",
        "8",
        "--no-pretrained",
        "--augmentation",
        "none",
        "--weight-decay",
        "0.01",
        "--num-workers",
        "0",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    (model,) = list_models(services)
    metrics = model.metrics
    assert model.settings["weight_decay"] == 0.01 and model.settings["num_workers"] == 0
    assert f"model {model.id}: cli-model v1 (resnet18)" in result.output
    assert "epoch 1/2" in result.output and "0.1428" not in result.output  # the bar counts whole epochs
    assert (
        f"validation accuracy {metrics['accuracy']:.1%} ({metrics['correct']}/{metrics['total']})"
        in result.output
    )
    for name in ("blue", "green", "red"):
        assert re.search(
            rf"^{name}\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+{metrics['per_class'][name]['support']}$",
            result.output,
            re.MULTILINE,
        ), result.output
    # The epoch table: one row per epoch, the kept one marked, and a final line that names it.
    for entry in metrics["history"]:
        mark = r"\*" if entry["epoch"] == metrics["best_epoch"] else " "
        assert re.search(
            rf"^\s*{mark}{entry['epoch']}\s+{entry['train_loss']:.4f}\s+{entry['val_loss']:.4f}\s+"
            rf"{entry['val_accuracy']:.1%}\s+[\d.]+s$",
            result.output,
            re.MULTILINE,
        ), result.output
    assert (
        f"kept epoch {metrics['best_epoch']} of 2 (best val accuracy, {metrics['accuracy']:.1%})"
        in result.output
    )

    listed = runner.invoke(main, ["models", "list"])
    assert listed.exit_code == 0
    assert re.search(
        rf"^\s*{model.id}\s+cli-model\s+1\s+resnet18\s+succeeded\s+{metrics['accuracy']:.1%}",
        listed.output,
        re.MULTILINE,
    ), listed.output

    refused = runner.invoke(main, [*args[:4], "resnet19", *args[5:]])
    assert refused.exit_code != 0 and "unknown architecture 'resnet19'" in refused.output
    missing = runner.invoke(
        main, ["train", "--collection", "nope", "--architecture", "resnet18", "--name", "x"]
    )
    assert missing.exit_code != 0 and "no collection named 'nope'" in missing.output
    assert len(list_models(services)) == 1

    shown = runner.invoke(main, ["models", "show", "cli-model"])
    assert shown.exit_code == 0, shown.output
    assert "status: succeeded" in shown.output and "weight_decay=0.01" in shown.output
    assert f"validation accuracy {metrics['accuracy']:.1%}" in shown.output
    assert re.search(
        rf"^red\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+{metrics['per_class']['red']['support']}$",
        shown.output,
        re.MULTILINE,
    )
    assert f"kept epoch {metrics['best_epoch']} of 2" in shown.output
    unknown = runner.invoke(main, ["models", "show", "nobody"])
    assert unknown.exit_code != 0 and "no model named 'nobody'" in unknown.output


def test_every_training_setting_is_a_train_option() -> None:
    help_text = CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output
    for name, field in TrainSettings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        assert re.search(rf"{flag}\b", help_text), flag
        if field.annotation is bool:
            assert f"--no-{name.replace('_', '-')}" in help_text
        if typing.get_origin(field.annotation) is typing.Literal:
            assert f"{flag} [{'|'.join(typing.get_args(field.annotation))}]" in help_text
    bad = CliRunner().invoke(
        main,
        ["train", "--collection", "1", "--architecture", "resnet18", "--name", "x", "--head-init", "zero"],
    )
    assert bad.exit_code == 2 and "'zero' is not one of" in bad.output


def test_models_list_aligns_long_architecture_names(services: Services) -> None:
    collection_id = make_color_collection(services, per_class=2)
    for name, architecture in (("short", "resnet18"), ("a-much-longer-model-name", LONG_NAME)):
        create_training(
            services,
            name=name,
            collection_id=collection_id,
            architecture=architecture,
            settings={**TINY_SETTINGS, "image_size": 64},
        )
    listed = CliRunner().invoke(main, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.output.strip().splitlines()
    assert len(rows) == 2
    for column in ("architecture", "status"):  # each column starts at the same place on every line
        start = header.index(column)
        for row in rows:
            assert row[start - 2 : start] == "  " and row[start] != " ", (column, listed.output)


def test_watch_cancel_resume_delete_by_name(services: Services) -> None:
    collection_id = make_color_collection(services, per_class=8)
    model = start_training(
        services,
        name="watched",
        collection_id=collection_id,
        architecture="resnet18",
        settings={**TINY_SETTINGS, "epochs": 200, "batch_size": 2},
    )
    runner = CliRunner()
    deadline = time.monotonic() + 120
    while get_model(services, model.id).job.progress.get("epoch", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    busy = runner.invoke(main, ["models", "delete", "watched", "--yes"])
    assert busy.exit_code != 0 and "cancel it first" in busy.output
    cancelled = runner.invoke(main, ["models", "cancel", "watched"])
    assert cancelled.exit_code == 0 and f"model {model.id}: stopping" in cancelled.output

    watched = runner.invoke(main, ["models", "watch", "watched"])
    assert watched.exit_code == 0, watched.output
    assert f"model {model.id}: cancelled (cancelled by the user)" in watched.output
    shown = runner.invoke(main, ["models", "show", str(model.id)])
    assert "status: cancelled" in shown.output

    unknown = runner.invoke(main, ["models", "resume", "no-such-model"])
    assert unknown.exit_code != 0 and "no model named" in unknown.output

    kept = runner.invoke(main, ["models", "delete", "watched"], input="n\n")
    assert kept.exit_code != 0 and get_model(services, model.id)
    deleted = runner.invoke(main, ["models", "delete", "watched", "--yes"])
    assert deleted.exit_code == 0 and f"model {model.id} deleted" in deleted.output
    assert list_models(services) == []
    assert not services.storage.model_dir(model.id).exists()


def test_models_resume_continues_a_cancelled_training_in_the_cli(services: Services) -> None:
    collection_id = make_color_collection(services, per_class=6)
    model = start_training(
        services,
        name="resumed",
        collection_id=collection_id,
        architecture="resnet18",
        settings={**TINY_SETTINGS, "epochs": 10, "batch_size": 2},
    )
    checkpoint = services.storage.model_dir(model.id) / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    runner = CliRunner()
    runner.invoke(main, ["models", "cancel", "resumed"])
    runner.invoke(main, ["models", "watch", "resumed"])
    assert get_model(services, model.id).job.status == "cancelled"
    result = runner.invoke(main, ["models", "resume", "resumed"])
    assert result.exit_code == 0, result.output
    assert f"model {model.id}: resumed v1 resumes after its last finished epoch" in result.output
    final = get_model(services, model.id)
    assert final.job.status == "succeeded" and len(final.metrics["history"]) == 10
    assert "kept epoch" in result.output
    refused = runner.invoke(main, ["models", "resume", "resumed"])
    assert refused.exit_code != 0 and "only a cancelled or failed training" in refused.output
