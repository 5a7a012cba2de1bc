"""The closed loop, simulated: how many labels each selection strategy saves against random review.

A held-out labelled image set (scikit-learn's 1,797 handwritten digits, 8x8 px, 10 classes: shipped with
scikit-learn, no download) is split into a pool (70%) and a test set (30%, never reviewed). The loop starts
with 5% of the pool labelled (the same frames for every strategy); each round a classifier is trained on the
labelled frames, scores the rest of the pool, ``cvat_bridge.loops.strategies.select`` sends the budget's least
certain frames to "reviewers" who answer with the true labels, and the test accuracy is recorded. Random
selection at the same budget is the baseline. The classifier is a multinomial logistic regression on the
pixels (seconds per run on a CPU): it measures the selection rule, not the fine-tuning recipe.

    pip install scikit-learn
    OMP_NUM_THREADS=1 python bench/loop/run.py [--rounds 12 --budget 20 --seeds 5]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cvat_bridge.loops.strategies import STRATEGIES, select  # noqa: E402


def run(strategy: str, seed: int, rounds: int, budget: int) -> list[tuple[int, float]]:
    """(labelled frames, test accuracy) after each round's retraining (round 0: the 5% start)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x, y = digits.data / 16.0, digits.target
    pool_x, test_x, pool_y, test_y = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    rng = np.random.default_rng(seed)
    labelled = set(rng.choice(len(pool_x), size=round(0.05 * len(pool_x)), replace=False).tolist())
    curve = []
    for number in range(rounds + 1):
        known = sorted(labelled)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = LogisticRegression(max_iter=2000).fit(pool_x[known], pool_y[known])
        curve.append((len(known), float(model.score(test_x, test_y))))
        if number == rounds:
            break
        rest = [i for i in range(len(pool_x)) if i not in labelled]
        probabilities = np.zeros((len(rest), 10))
        probabilities[:, model.classes_] = model.predict_proba(pool_x[rest])
        chosen = select(probabilities, budget, strategy, seed=seed * 1000 + number)
        labelled |= {rest[i] for i in chosen}  # the reviewers answer with the true labels
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    curves = {
        strategy: np.array(
            [[acc for _, acc in run(strategy, seed, args.rounds, args.budget)] for seed in range(args.seeds)]
        )
        for strategy in STRATEGIES
    }
    labels = [n for n, _ in run("random", 0, args.rounds, args.budget)]
    print(f"test accuracy (mean of {args.seeds} seeds) per round, budget {args.budget} frames per round")
    print("| round | labelled | " + " | ".join(STRATEGIES) + " |")
    print("|---|---|" + "---|" * len(STRATEGIES))
    for number, count in enumerate(labels):
        cells = " | ".join(f"{100 * curves[s][:, number].mean():.1f}%" for s in STRATEGIES)
        print(f"| {number} | {count} | {cells} |")
    final_random = curves["random"][:, -1].mean()
    print(f"\nlabels to reach random's final accuracy ({100 * final_random:.1f}%, {labels[-1]} labels):")
    for strategy in STRATEGIES:
        mean = curves[strategy].mean(axis=0)
        reached = next((labels[i] for i, acc in enumerate(mean) if acc >= final_random), None)
        saved = f"{labels[-1] - reached} fewer" if reached is not None else "not reached"
        print(f"  {strategy}: {reached if reached is not None else '-'} labels ({saved})")


if __name__ == "__main__":
    main()
