SELECT coalesce(max(version), 0) FROM main.schema_migrations
