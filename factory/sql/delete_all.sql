DELETE FROM {schema}.{table}
