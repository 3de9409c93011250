"""Training: model candidates, fitting, selection and prediction; scikit-learn in, metrics out."""

from __future__ import annotations

from factory.core.training._keys import MAX_KEY_LENGTH, decode_key, encode_key
from factory.core.training._train import (
    CandidateResult,
    Selection,
    build_candidate,
    evaluate,
    model_text,
    predict,
    train_and_select,
)

__all__ = [
    "MAX_KEY_LENGTH",
    "CandidateResult",
    "Selection",
    "build_candidate",
    "decode_key",
    "encode_key",
    "evaluate",
    "model_text",
    "predict",
    "train_and_select",
]
