ALTER TABLE {schema}.{old} RENAME TO {new}
