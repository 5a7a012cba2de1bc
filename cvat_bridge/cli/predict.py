"""`cvat-bridge predict MODEL IMAGE|FOLDER...`: one line per image (class, confidence, top k), then a
summary (count per class; with --labels-from-folders, the accuracy against the folder names)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from cvat_bridge.cli import main
from cvat_bridge.cli.display import format_table
from cvat_bridge.ingest.doctor import IMAGE_SUFFIXES
from cvat_bridge.model_lookup import resolve_model
from cvat_bridge.services import get_services
from cvat_bridge.serving import BadImage, Prediction, get_predictor, read_images

BATCH = 16


@main.command()
@click.argument("model")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(min=1), help="Classes listed.")
@click.option(
    "--threshold",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Below this confidence the class is printed as '-'.",
)
@click.option(
    "--labels-from-folders",
    is_flag=True,
    help="An image's true class is the name of its nearest folder named after a class: print the accuracy.",
)
def predict(
    model: str, images: tuple[Path, ...], top_k: int, threshold: float, labels_from_folders: bool
) -> None:
    """Classify IMAGES with MODEL (an id, or a name for its latest version). A folder stands for every image
    under it (recursively; other files are skipped and counted).

    Prints `IMAGE<TAB>CLASS<TAB>CONFIDENCE<TAB>TOP-K` per image on stdout, then a summary on stderr;
    unreadable images are reported on stderr and make the exit status 1.
    """
    services = get_services()
    predictor = get_predictor(services, resolve_model(services, model))
    files, skipped = expand(images)
    results: list[tuple[Path, Prediction]] = []
    failed = 0
    for batch in _batches(files, BATCH):
        readable = []
        for path in batch:
            try:
                (image,) = read_images(
                    [(str(path), path)],
                    services.settings.max_image_pixels,
                    predictor.preprocessing.resize_size,
                )
                readable.append((path, image))
            except BadImage as exc:
                click.echo(f"error: {exc}", err=True)
                failed += 1
        if not readable:
            continue
        predictions = predictor.predict([image for _, image in readable], top_k=top_k, threshold=threshold)
        for (path, _), prediction in zip(readable, predictions, strict=True):
            click.echo(format_line(str(path), prediction))
            results.append((path, prediction))
    _summary(results, skipped, failed, predictor.classes if labels_from_folders else None)
    if failed:
        raise SystemExit(1)


def expand(paths: Sequence[Path]) -> tuple[list[Path], int]:
    """The image files of paths (folders: every image under them, sorted), and how many other files the
    folders held. A file named directly is kept whatever its name (it may be an image without a suffix)."""
    files, skipped = [], 0
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        for found in sorted(p for p in path.rglob("*") if p.is_file()):
            if found.suffix.lower() in IMAGE_SUFFIXES:
                files.append(found)
            else:
                skipped += 1
    return files, skipped


def _batches(items: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _summary(
    results: list[tuple[Path, Prediction]], skipped: int, failed: int, classes: Sequence[str] | None
) -> None:
    """On stderr: images per predicted class; with classes, the accuracy against the folder names."""
    counts = Counter(label for _, prediction in results for label in _predicted(prediction))
    extra = [f"{skipped} non-image files skipped"] if skipped else []
    extra += [f"{failed} unreadable"] if failed else []
    click.echo(f"{len(results)} images" + "".join(f", {text}" for text in extra), err=True)
    click.echo("\n".join(format_table(["predicted", "images"], sorted(counts.items()))), err=True)
    if classes is None:
        return
    truths = [(folder_class(path, classes), guess.label) for path, guess in results]
    known = [(truth, label) for truth, label in truths if truth is not None]
    unknown = len(results) - len(known)
    if unknown:
        click.echo(f"{unknown} images in folders not named after a class of the model (left out)", err=True)
    if not known:
        return
    correct = sum(truth == label for truth, label in known)
    click.echo(f"accuracy {correct / len(known):.1%} ({correct}/{len(known)})", err=True)
    rows = []
    for name in sorted({truth for truth, _ in known}):
        of_class = [label for truth, label in known if truth == name]
        hits = sum(label == name for label in of_class)
        rows.append([name, f"{hits / len(of_class):.1%}", f"{hits}/{len(of_class)}"])
    click.echo("\n".join(format_table(["class", "accuracy", "correct"], rows)), err=True)


def _predicted(prediction: Prediction) -> list[str]:
    """The predicted class ("-": none); multi-label: each predicted label ("-": none)."""
    if prediction.labels is not None:
        return [score.label for score in prediction.labels] or ["-"]
    return [prediction.label or "-"]


def folder_class(path: Path, classes: Sequence[str]) -> str | None:
    """The true class of an image by its folders: the nearest one named after a class (so `val/ants/x.jpg`
    and `ants/night/x.jpg` are both ants); None when no folder is."""
    return next((folder.name for folder in path.parents if folder.name in classes), None)


def format_line(name: str, prediction: Prediction) -> str:
    """``name, label, confidence, top-k``; multi-label: ``name, every label above its threshold with its
    confidence ("-": none), top-k``."""
    ranked = ", ".join(f"{score.label} {score.confidence:.3f}" for score in prediction.top_k)
    if prediction.labels is not None:
        chosen = ", ".join(f"{score.label} {score.confidence:.3f}" for score in prediction.labels)
        return f"{name}\t{chosen or '-'}\t{ranked}"
    return f"{name}\t{prediction.label or '-'}\t{prediction.confidence:.3f}\t{ranked}"
