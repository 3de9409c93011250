INSERT INTO main.schema_migrations (version, name, applied_at, code_version) VALUES (?, ?, now(), ?)
