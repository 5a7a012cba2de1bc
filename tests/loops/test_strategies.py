"""Uncertainty scores and selection on hand-made probabilities (values worked out by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cvat_bridge.loops.strategies import select, uncertainty

P = np.array(
    [
        [0.90, 0.05, 0.05],  # confident
        [0.50, 0.45, 0.05],  # two classes close: small margin
        [0.40, 0.30, 0.30],  # flat: low top, high entropy
        [0.60, 0.39, 0.01],
    ]
)


def test_scores_by_hand() -> None:
    assert uncertainty(P, "least_confidence") == pytest.approx([0.10, 0.50, 0.60, 0.40])
    assert uncertainty(P, "margin") == pytest.approx([0.15, 0.95, 0.90, 0.79])
    entropy = [-sum(p * math.log(p) for p in row) for row in P]
    assert uncertainty(P, "entropy") == pytest.approx(entropy)


def test_each_strategy_picks_its_own_least_certain() -> None:
    assert select(P, 2, "margin") == [1, 2]
    assert select(P, 2, "least_confidence") == [2, 1]
    assert select(P, 1, "entropy") == [2]
    assert select(P, 10, "margin") == [1, 2, 3, 0]  # the budget may exceed the frames


def test_ties_keep_frame_order_and_random_is_seeded() -> None:
    same = np.full((4, 2), 0.5)
    assert select(same, 3, "margin") == [0, 1, 2]
    assert select(P, 4, "random", seed=3) == select(P, 4, "random", seed=3)
    assert sorted(select(P, 4, "random", seed=3)) == [0, 1, 2, 3]


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        uncertainty(P, "vibes")
