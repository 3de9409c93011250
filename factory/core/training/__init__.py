"""Training: model candidates, fitting, selection and prediction; scikit-learn in, metrics out."""

from __future__ import annotations

from factory.core.training._candidates import (
    CANDIDATES,
    GRIDS,
    SKOPS_TRUSTED_TYPES,
    build_candidate,
    calibrated,
    reads_documents,
)
from factory.core.training._inputs import MISSING, TEXT_COLUMN, ModelColumns, joined_text, model_frame
from factory.core.training._keys import MAX_KEY_LENGTH, decode_key, encode_key
from factory.core.training._metrics import (
    ECE_BINS,
    Interval,
    SliceMask,
    bootstrap_interval,
    class_metrics,
    encode_labels,
    expected_calibration_error,
    metric_of,
    resampled_metric,
    slice_masks,
    slice_metrics,
)
from factory.core.training._train import (
    Calibration,
    CandidateResult,
    Selection,
    class_probabilities,
    evaluate,
    model_inputs,
    model_text,
    predict,
    train_and_select,
)

__all__ = [
    "CANDIDATES",
    "ECE_BINS",
    "GRIDS",
    "MAX_KEY_LENGTH",
    "MISSING",
    "SKOPS_TRUSTED_TYPES",
    "TEXT_COLUMN",
    "Calibration",
    "CandidateResult",
    "Interval",
    "ModelColumns",
    "Selection",
    "SliceMask",
    "bootstrap_interval",
    "build_candidate",
    "calibrated",
    "class_metrics",
    "class_probabilities",
    "decode_key",
    "encode_key",
    "encode_labels",
    "evaluate",
    "expected_calibration_error",
    "joined_text",
    "metric_of",
    "model_frame",
    "model_inputs",
    "model_text",
    "predict",
    "reads_documents",
    "resampled_metric",
    "slice_masks",
    "slice_metrics",
    "train_and_select",
]
