"""The stored split: 70/30 per class within one image, deterministic per seed, both sides non-empty."""

from __future__ import annotations

from collections import Counter

import pytest

from cvat_bridge.ingest.split import stratified_split

COUNTS = {"wool": 50, "cotton": 17, "silk": 3, "linen": 2, "hemp": 1}


def items(counts: dict[str, int]) -> list[tuple[str, str]]:
    return [(f"{label}/{i}.jpg", label) for label, n in counts.items() for i in range(n)]


def val_per_class(assignment: dict[str, str]) -> Counter:
    return Counter(key.split("/")[0] for key, split in assignment.items() if split == "val")


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.5, 0.8])
def test_each_class_gets_its_share_within_one_image(ratio: float) -> None:
    val = val_per_class(stratified_split(items(COUNTS), ratio, seed=0))
    for label, n in COUNTS.items():
        if n >= 2:
            assert abs(val[label] - ratio * n) <= 1, (label, val[label])
            assert 1 <= val[label] <= n - 1, label  # both sides get at least one image
        else:
            assert val[label] == 0  # a single image trains


def test_split_is_deterministic_for_a_seed_and_order_free() -> None:
    data = items(COUNTS)
    first = stratified_split(data, 0.3, seed=7)
    assert stratified_split(list(reversed(data)), 0.3, seed=7) == first
    assert stratified_split(data, 0.3, seed=8) != first


def test_split_of_a_class_does_not_depend_on_the_other_classes() -> None:
    alone = stratified_split(items({"wool": 50}), 0.3, seed=3)
    together = stratified_split(items(COUNTS), 0.3, seed=3)
    assert {key: split for key, split in together.items() if key.startswith("wool/")} == alone


def test_bad_ratio_is_refused() -> None:
    for ratio in (0.0, 1.0, -0.2, 1.5):
        with pytest.raises(ValueError, match="val_ratio"):
            stratified_split(items(COUNTS), ratio, seed=0)


def test_identical_files_stay_on_one_side() -> None:
    data = [(f"wool/{i}.jpg", "wool") for i in range(20)]
    groups = {f"wool/{i}.jpg": f"sha-{i % 7}" for i in range(20)}  # 7 distinct contents, 2-3 copies each
    for seed in range(10):
        assignment = stratified_split(data, 0.3, seed=seed, groups=groups)
        sides: dict[str, set[str]] = {}
        for key, side in assignment.items():
            sides.setdefault(groups[key], set()).add(side)
        assert all(len(found) == 1 for found in sides.values()), seed
        val = sum(side == "val" for side in assignment.values())
        assert 1 <= val <= 19 and abs(val - 6) <= 2, (seed, val)  # 30% of 20, within one group's size
