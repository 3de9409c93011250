#!/bin/sh
# Runs once, when the postgres container initializes an empty data directory (docker-entrypoint-initdb.d):
# one role and one database per service, each owning its own, so no service can read another's tables.
#
#   Dagster instance (runs, event log, schedules)  $DAGSTER_PG_USER / $DAGSTER_PG_DB
#   MLflow backend store (runs, registry)          mlflow / mlflow
#   lakeFS metadata (refs, commits, auth)          lakefs / lakefs
#
# Names and passwords reach SQL as psql variables (:"name" quotes an identifier, :'value' a literal), never
# spliced into the statement text. Changing a password later is ALTER ROLE, not this script.
set -eu

create() {
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v role="$1" -v password="$2" -v db="$3" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
}

create "$DAGSTER_PG_USER" "$DAGSTER_PG_PASSWORD" "$DAGSTER_PG_DB"
create mlflow "$MLFLOW_PG_PASSWORD" mlflow
create lakefs "$LAKEFS_PG_PASSWORD" lakefs
