"""Names, keys and partitions of one use case, derived from its spec: the vocabulary every layer shares.

`UseCase` is the one place that spells the names of a use case's assets, jobs, schedules and sensors: wiring,
the headless runner and tests ask it rather than formatting names themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

import dagster as dg

from factory.core.preparation import ColumnRule, MinHashConfig, PrepareRules
from factory.plugins import feedback_source
from factory.resources.tables import Table, TableName, tables_for
from factory.spec import UseCaseSpec

__all__ = ["UseCase"]


@dataclass(frozen=True)
class UseCase:
    spec: UseCaseSpec

    @property
    def name(self) -> str:
        return self.spec.name

    def key(self, asset: str) -> dg.AssetKey:
        return dg.AssetKey([self.name, asset])

    def raw_key(self, source: str) -> dg.AssetKey:
        return self.key(f"raw_{source}")

    @property
    def raw_keys(self) -> list[dg.AssetKey]:
        return [self.raw_key(s.name) for s in self.spec.sources]

    def group(self, layer: str) -> str:
        return f"{self.name}_{layer}"

    @cached_property
    def tables(self) -> dict[TableName, Table]:
        """The use case's warehouse tables, from the registry (`factory.resources.tables`)."""
        return tables_for(self.spec)

    @cached_property
    def daily(self) -> dg.DailyPartitionsDefinition:
        return dg.DailyPartitionsDefinition(start_date=self.spec.start_date.isoformat(), timezone="UTC")

    @property
    def model_name(self) -> str:
        return self.name

    @property
    def stage_prefix(self) -> str:
        """The prefix of every staging branch of the use case in the version store."""
        return f"{self.name}/stage/"

    def stage_branch(self, run_id: str) -> str:
        return f"{self.stage_prefix}{run_id}"

    @property
    def dataset_table(self) -> str:
        return f"{self.name}/dataset"

    @property
    def datacard_path(self) -> str:
        return f"{self.name}/datacard.md"

    @property
    def reference_stats_path(self) -> str:
        """Where a dataset version keeps the reference statistics of its train split (`ReferenceStats`)."""
        return f"{self.name}/reference_stats.json"

    @property
    def version_tag_prefix(self) -> str:
        """The prefix of every published version tag of the use case."""
        return f"{self.name}/v"

    def version_tag(self, number: int) -> str:
        return f"{self.version_tag_prefix}{number}"

    def op_name(self, step: str) -> str:
        """The name of an op that materializes several assets of the use case at once."""
        return f"{self.name}__{step}"

    # --- jobs, schedules and sensors -------------------------------------------------------------------------

    @property
    def daily_job(self) -> str:
        """The daily layers for one day (ingest, prepare, label, predict, report drift)."""
        return f"{self.name}_daily"

    @property
    def retrain_job(self) -> str:
        """Stage, gate, publish, train and promote."""
        return f"{self.name}_retrain"

    @property
    def labeling_job(self) -> str:
        """Re-label one day."""
        return f"{self.name}_labeling"

    @property
    def feedback_job(self) -> str:
        """Read one day's production corrections again."""
        return f"{self.name}_feedback"

    @property
    def nightly_schedule(self) -> str:
        return f"{self.name}_nightly"

    @property
    def drift_sensor(self) -> str:
        return f"{self.name}_drift_sensor"

    @property
    def labeling_sensor(self) -> str:
        return f"{self.name}_labeling_sensor"

    @property
    def feedback_sensor(self) -> str:
        return f"{self.name}_feedback_sensor"

    def files_sensor(self, source: str) -> str:
        """The sensor watching the drop folder of data source ``source``."""
        return f"{self.name}_{source}_files_sensor"

    # --- plug-in kinds --------------------------------------------------------------------------------------

    @property
    def feedback_needs_predictions(self) -> bool:
        """Whether a feedback source reads the predictions (the demo agents do; file inboxes do not)."""
        return any(feedback_source(s.kind).needs_predictions for s in self.spec.feedback_sources)

    def prepare_rules(self, partition_key: str, pseudonym_key: bytes | None = None) -> PrepareRules:
        """The preparation rules of one day; key values that look personal get pseudonyms under `pseudonym_key`."""
        start = datetime.combine(date.fromisoformat(partition_key), datetime.min.time(), tzinfo=UTC)
        schema = self.spec.schema
        near = self.spec.near_duplicates
        return PrepareRules(
            columns=tuple(ColumnRule(c.name, c.type, c.required, c.values, c.max_length) for c in schema.columns),
            id_column=schema.id,
            timestamp_column=schema.timestamp,
            text_columns=self.spec.text_columns,
            feature_columns=self.spec.feature_columns,
            partition_start=start,
            partition_end=start + timedelta(days=1),
            minhash=MinHashConfig(threshold=near.threshold, num_perm=near.num_perm, bands=near.bands),
            custom_pii=dict(self.spec.custom_pii),
            group_column=schema.group,
            label_columns=self.spec.label_columns,
            pseudonym_key=pseudonym_key,
        )
