"""The model's input frame: the use case's input columns as the fitted pipelines read them.

Every candidate is a scikit-learn pipeline over a pandas DataFrame built here from the rows: the text columns
joined by spaces into one column (``TEXT_COLUMN``; a missing text is empty), each categorical feature as text
(a missing value is ``MISSING``) and each numeric feature as a float (missing, infinite, or text that is no
number, is NaN and imputed by the pipeline). Training, ``predict``, the review queue and the registered pyfunc
(``factory/resources/pyfunc_model.py``, which repeats these rules without importing the factory) build the
same frame, so a model answers the same wherever it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import polars as pl

if TYPE_CHECKING:
    from factory.spec import UseCaseSpec

__all__ = ["MISSING", "TEXT_COLUMN", "ModelColumns", "joined_text", "model_frame"]

TEXT_COLUMN = "__text__"
MISSING = "<missing>"


@dataclass(frozen=True)
class ModelColumns:
    """The input columns of a use case's model, by kind."""

    text: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("text", "categorical", "numeric"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not (self.text or self.categorical or self.numeric):
            raise ValueError("a model needs at least one input column")

    @classmethod
    def of(cls, spec: UseCaseSpec) -> ModelColumns:
        """The input columns of a use case: its text columns and its feature columns by kind."""
        return cls(spec.text_columns, spec.categorical_features, spec.numeric_features)

    @property
    def features(self) -> tuple[str, ...]:
        """The categorical, then the numeric feature columns."""
        return (*self.categorical, *self.numeric)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every column a model reads: text, then features."""
        return (*self.text, *self.features)

    @property
    def frame_columns(self) -> list[str]:
        """The columns of the model frame, in order."""
        return [*([TEXT_COLUMN] if self.text else []), *self.categorical, *self.numeric]


def joined_text(frame: pl.DataFrame, text_columns: Sequence[str]) -> pl.Series:
    """The text columns of each row joined by a space, a missing text as empty."""
    parts = [pl.col(c).cast(pl.String).fill_null("") for c in text_columns]
    return frame.select(pl.concat_str(parts, separator=" ").alias(TEXT_COLUMN)).to_series()


def _numeric(column: pl.Series) -> pl.Series:
    """Floats, null where a value is missing, not a number, NaN or infinite."""
    if column.dtype.is_numeric():
        numbers = column.cast(pl.Float64)
    else:
        numbers = column.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.select(pl.when(numbers.is_finite()).then(numbers)).to_series().alias(column.name)


def model_frame(frame: pl.DataFrame, columns: ModelColumns) -> pd.DataFrame:
    """The pandas frame a fitted pipeline reads (module docstring); one row per row of `frame`, in order."""
    series: list[pl.Series] = []
    if columns.text:
        series.append(joined_text(frame, columns.text))
    series += [frame[c].cast(pl.String).fill_null(MISSING).alias(c) for c in columns.categorical]
    series += [_numeric(frame[c]) for c in columns.numeric]
    built = pl.DataFrame(series) if series else pl.DataFrame()
    out = pd.DataFrame(
        {
            name: (
                built[name].to_numpy().astype(float)
                if name in columns.numeric
                else pd.Series(built[name].to_list(), dtype=object)
            )
            for name in columns.frame_columns
        }
    )
    out.index = pd.RangeIndex(frame.height)
    return out
