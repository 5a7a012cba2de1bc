"""Uncertainty of class probabilities, and choosing the frames people should review.

Every score is "higher = less certain"; ``select`` takes the budget's highest (ties: lower index first)."""

from __future__ import annotations

from typing import Literal

import numpy as np

Strategy = Literal["margin", "least_confidence", "entropy", "random"]
STRATEGIES: tuple[str, ...] = ("margin", "least_confidence", "entropy", "random")
DEFAULT_STRATEGY: Strategy = "margin"


def uncertainty(probabilities: np.ndarray, strategy: str, seed: int = 0) -> np.ndarray:
    """One score per row of (N, classes) probabilities: margin = 1 - (best - second best), least confidence
    = 1 - best, entropy = -sum p log p (natural log), random = a seeded uniform draw."""
    p = np.asarray(probabilities, dtype=np.float64)
    if strategy == "random":
        return np.random.default_rng(seed).random(len(p))
    if p.ndim != 2 or p.shape[1] == 0:
        raise ValueError("probabilities must be (N, classes)")
    if strategy == "least_confidence":
        return 1.0 - p.max(axis=1)
    if strategy == "margin":
        if p.shape[1] == 1:
            return np.zeros(len(p))
        top2 = np.sort(p, axis=1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])
    if strategy == "entropy":
        safe = np.clip(p, 1e-12, 1.0)
        return -(p * np.log(safe)).sum(axis=1)
    raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")


def select(probabilities: np.ndarray, budget: int, strategy: str, seed: int = 0) -> list[int]:
    """Row indices of the ``budget`` least certain rows, least certain first."""
    scores = uncertainty(probabilities, strategy, seed)
    order = np.lexsort((np.arange(len(scores)), -scores))  # by score descending, then index
    return [int(i) for i in order[: max(0, budget)]]
