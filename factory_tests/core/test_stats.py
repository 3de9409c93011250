"""The stratified sample the grid search and the review queue's out-of-fold models fit on."""

from __future__ import annotations

import numpy as np
import pytest

from factory.core.stats import stratified_sample


def test_a_rare_class_keeps_a_row_per_fold_while_the_cap_allows() -> None:
    """5 rows of two rare classes among 12,000: a share-proportional sample of 4,000 keeps 2 of each, too few for 3
    stratified folds; ``at_least=3`` keeps 3, still exactly 4,000 rows, the rest by share."""
    codes = np.array([0] * 11_990 + [1] * 5 + [2] * 5, dtype=np.int64)
    assert np.bincount(codes[stratified_sample(codes, 4_000, seed=1)]).tolist() == [3_996, 2, 2]
    kept = stratified_sample(codes, 4_000, seed=1, at_least=3)
    assert kept.sum() == 4_000 and np.bincount(codes[kept]).tolist() == [3_994, 3, 3]
    assert stratified_sample(codes, 4, seed=1, at_least=3).sum() == 4, "never more than the cap"


def test_under_the_cap_everything_is_kept_and_a_cap_under_one_is_refused() -> None:
    codes = np.array([0, 1, 1], dtype=np.int64)
    assert stratified_sample(codes, 3, seed=0).all()
    assert stratified_sample(np.array([], dtype=np.int64), 5, seed=0).size == 0
    with pytest.raises(ValueError, match="at least 1"):
        stratified_sample(codes, 0, seed=0)
