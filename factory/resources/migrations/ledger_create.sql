-- The ledger of applied migrations: one row per version, forward only.
CREATE TABLE IF NOT EXISTS main.schema_migrations (
    version BIGINT PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMP WITH TIME ZONE NOT NULL,
    code_version VARCHAR NOT NULL
)
