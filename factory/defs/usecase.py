"""Names, keys and partitions of one use case, derived from its spec: the vocabulary every layer shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

import dagster as dg

from factory.core.preparation import ColumnRule, MinHashConfig, PrepareRules
from factory.demo import DemoConfig
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
    def daily(self) -> dg.DailyPartitionsDefinition:
        return dg.DailyPartitionsDefinition(start_date=self.spec.start_date.isoformat(), timezone="UTC")

    @property
    def model_name(self) -> str:
        return self.name

    def stage_branch(self, run_id: str) -> str:
        return f"{self.name}/stage/{run_id}"

    @property
    def dataset_table(self) -> str:
        return f"{self.name}/dataset"

    @property
    def datacard_path(self) -> str:
        return f"{self.name}/datacard.md"

    def version_tag(self, number: int) -> str:
        return f"{self.name}/v{number}"

    def demo_config(self) -> DemoConfig:
        source = self.spec.demo_source
        if source is None:
            raise ValueError(f"use case {self.name} has no demo source")
        return DemoConfig(
            seed=source.seed,
            rows_per_day=source.rows_per_day,
            drift_start=source.drift_start,
            gold_share=self.spec.labeling.gold_share,
            annotations_per_item=self.spec.labeling.annotations_per_item,
        )

    def prepare_rules(self, partition_key: str) -> PrepareRules:
        start = datetime.combine(date.fromisoformat(partition_key), datetime.min.time(), tzinfo=UTC)
        schema = self.spec.schema
        near = self.spec.near_duplicates
        return PrepareRules(
            columns=tuple(ColumnRule(c.name, c.type, c.required, c.values, c.max_length) for c in schema.columns),
            id_column=schema.id,
            timestamp_column=schema.timestamp,
            text_columns=self.spec.text_columns,
            partition_start=start,
            partition_end=start + timedelta(days=1),
            minhash=MinHashConfig(threshold=near.threshold, num_perm=near.num_perm, bands=near.bands),
            custom_pii=dict(self.spec.custom_pii),
        )
