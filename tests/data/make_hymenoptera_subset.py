"""Make tests/data/hymenoptera_data from the full data set: a fixed sample of each class folder, every photo
scaled down to a short side of 256 px (the resize size of the 224 px models) and saved as JPEG quality 80.

    python tests/data/make_hymenoptera_subset.py /path/to/hymenoptera_data [--per-folder 40]

The data set's quirks are kept: `train/ants/imageNotFound.gif` (not an image format the service takes) and
`train/ants/formica.jpeg` (the one `.jpeg`) are always copied, as they are.
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parent / "hymenoptera_data"
QUIRKS = {"imageNotFound.gif", "formica.jpeg"}
SHORT_SIDE = 256


def shrink(source: Path, target: Path) -> None:
    with Image.open(source) as image:
        image = image.convert("RGB")
        scale = SHORT_SIDE / min(image.size)
        if scale < 1:
            size = (round(image.width * scale), round(image.height * scale))
            image = image.resize(size, Image.Resampling.LANCZOS)
        image.save(target, "JPEG", quality=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--per-folder", type=int, default=40)
    args = parser.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    for folder in sorted(args.source.glob("*/*")):
        target = OUT / folder.relative_to(args.source)
        target.mkdir(parents=True)
        files = sorted(path for path in folder.iterdir() if path.name not in QUIRKS)
        quirks = sorted(path for path in folder.iterdir() if path.name in QUIRKS)
        for path in quirks:
            shutil.copyfile(path, target / path.name)
        for path in random.Random(folder.name).sample(files, args.per_folder - len(quirks)):
            shrink(path, target / path.name)


if __name__ == "__main__":
    main()
