"""AI Factory: an ML data factory as Dagster software-defined assets."""

import os

# Third-party telemetry stays off unless a person turns it on: the factory runs on private data.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")
