"""Quality suite: the service's default training against a bare reference loop, on varied datasets.

    pip install -e '.[lite]' scikit-learn    # scikit-learn: the digits case; its scipy: the intervals
    python bench/quality/run.py [--cases photos digits ...] [--seeds 0 1 2] [--jobs 2]
                                [--service '{"augmentation": "none"}']   # a variant of the defaults

Per case (bench/quality/datasets.py) and seed, on the same split, architecture, pretrained weights, image
size, epochs and seed:
- service: `trainer.engine.fine_tune` with `TrainSettings` defaults (what `POST /api/models` runs);
- bare: a plain loop as torchvision's reference writes it (bench/quality/bare.py): AdamW at the same learning
  rate, random-resized crops + horizontal flips, cosine per epoch, the last epoch's weights;
- bare, no flips: the same without flips (better wherever mirroring changes the class).
Both are measured by the same evaluation (the serving preprocessing) on the validation split: accuracy and
macro F1. The verdict: the service's mean accuracy over seeds >= the better bare loop's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import scipy.stats
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.quality import datasets  # noqa: E402
from bench.quality.bare import bare_loop  # noqa: E402
from trainer.catalogue import get_architecture  # noqa: E402
from trainer.config import TrainSettings  # noqa: E402
from trainer.engine import fine_tune  # noqa: E402

CONTENDERS = ("service", "bare", "bare, no flips")


def service_run(case: datasets.Case, data, seed: int, overrides: dict[str, Any]) -> dict[str, Any]:
    settings = TrainSettings(
        epochs=case.epochs, image_size=case.image_size, pretrained=case.pretrained, seed=seed, **overrides
    )
    with tempfile.TemporaryDirectory() as out:
        result = fine_tune(get_architecture(case.architecture), settings, data, Path(out))
    metrics = result.metrics
    decisions = metrics.get("recipe", {})
    note = f"best epoch {result.best_epoch}" + "".join(f", {k} {v}" for k, v in decisions.items())
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro"]["f1"], "note": note}


def one_run(task: tuple[str, int, str, dict[str, Any], Path, int]) -> tuple[str, int, str, dict[str, Any]]:
    name, seed, contender, overrides, cache, threads = task
    torch.set_num_threads(threads)
    case = datasets.CASES[name]
    data = datasets.materialise(case, cache)
    start = time.monotonic()
    if contender == "service":
        row = service_run(case, data, seed, overrides)
    else:
        row = bare_loop(case, data, seed, flips=contender == "bare")
    row["seconds"] = time.monotonic() - start
    row["seed"] = seed
    return name, seed, contender, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=datasets.CASES, default=list(datasets.CASES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--service", type=json.loads, default={}, help="TrainSettings overrides (JSON)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (each on --threads threads)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cvat-bridge-quality")
    parser.add_argument("--hymenoptera", type=Path, help="another copy of hymenoptera (train/, val/)")
    args = parser.parse_args()
    if args.hymenoptera:
        datasets.HYMENOPTERA = args.hymenoptera
        args.cache = args.cache / "custom-photos"
    for name in args.cases:  # written once, before the runs share them
        data = datasets.materialise(datasets.CASES[name], args.cache)
        case = datasets.CASES[name]
        print(
            f"{name}: {len(data.classes)} classes, {len(data.train)} train / {len(data.val)} val; "
            f"{case.architecture} {'pretrained' if case.pretrained else 'from scratch'}, "
            f"{case.image_size} px, {case.epochs} epochs",
            flush=True,
        )
    tasks = [
        (name, seed, contender, args.service, args.cache, args.threads)
        for name in args.cases
        for seed in args.seeds
        for contender in args.contenders
    ]
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with ProcessPoolExecutor(args.jobs) as pool:
        for name, seed, contender, row in pool.map(one_run, tasks):
            rows.setdefault((name, contender), []).append(row)
            print(
                f"  {name:<11} seed {seed} {contender:<15} acc {row['accuracy']:.4f}  "
                f"macro-F1 {row['macro_f1']:.4f}  {row['seconds']:6.1f} s  {row.get('note', '')}",
                flush=True,
            )
    print_table(args.cases, args.contenders, rows)


def print_table(cases: list[str], contenders: list[str], rows: dict) -> None:
    """Markdown: mean accuracy (macro F1) per case and contender, the verdict, the paired difference per seed
    between the service and the better bare loop (mean, 95% t-interval: how far seeds alone move it), and that
    loop's accuracy at its best epoch (the service keeps its best epoch on val; the bare loop its last)."""
    print(
        "\n| case | " + " | ".join(contenders) + " | service >= best bare | service - best bare, paired "
        "| best bare at its best epoch |"
    )
    print("|---" * (len(contenders) + 4) + "|")
    for name in cases:
        means = {
            contender: (
                statistics.mean(row["accuracy"] for row in rows[name, contender]),
                statistics.mean(row["macro_f1"] for row in rows[name, contender]),
            )
            for contender in contenders
        }
        cells = [f"{acc:.4f} ({f1:.4f})" for acc, f1 in means.values()]
        bare = {contender: acc for contender, (acc, _) in means.items() if contender != "service"}
        if "service" not in means or not bare:
            print(f"| {name} | " + " | ".join(cells) + " | - | - | - |")
            continue
        best_bare = max(bare, key=bare.__getitem__)
        verdict = "yes" if means["service"][0] >= bare[best_bare] else "no"
        paired = paired_difference(rows[name, "service"], rows[name, best_bare])
        at_best = statistics.mean(row["best_accuracy"] for row in rows[name, best_bare])
        print(f"| {name} | " + " | ".join(cells) + f" | {verdict} | {paired} | {at_best:.4f} |")


def paired_difference(service: list[dict[str, Any]], bare: list[dict[str, Any]]) -> str:
    """Accuracy points, service minus bare on the same seeds: mean and 95% t-interval (n >= 2)."""
    by_seed = {row["seed"]: row["accuracy"] for row in bare}
    differences = [
        100 * (row["accuracy"] - by_seed[row["seed"]]) for row in service if row["seed"] in by_seed
    ]
    if len(differences) < 2:
        return "-"
    mean = statistics.mean(differences)
    half_width = scipy.stats.t.ppf(0.975, len(differences) - 1) * statistics.stdev(differences)
    half_width /= len(differences) ** 0.5
    return f"{mean:+.2f} [{mean - half_width:+.2f}, {mean + half_width:+.2f}] over {len(differences)} seeds"


if __name__ == "__main__":
    main()
