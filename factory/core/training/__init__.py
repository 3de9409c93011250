"""Training: model candidates, fitting, selection and prediction; scikit-learn in, metrics out."""

from __future__ import annotations

from factory.core.training._candidates import CANDIDATES, SKOPS_TRUSTED_TYPES, build_candidate, reads_documents
from factory.core.training._inputs import MISSING, TEXT_COLUMN, ModelColumns, joined_text, model_frame
from factory.core.training._keys import MAX_KEY_LENGTH, decode_key, encode_key
from factory.core.training._train import (
    CandidateResult,
    Selection,
    evaluate,
    model_inputs,
    model_text,
    predict,
    train_and_select,
)

__all__ = [
    "CANDIDATES",
    "MAX_KEY_LENGTH",
    "MISSING",
    "SKOPS_TRUSTED_TYPES",
    "TEXT_COLUMN",
    "CandidateResult",
    "ModelColumns",
    "Selection",
    "build_candidate",
    "decode_key",
    "encode_key",
    "evaluate",
    "joined_text",
    "model_frame",
    "model_inputs",
    "model_text",
    "predict",
    "reads_documents",
    "train_and_select",
]
