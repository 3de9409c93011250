SELECT * FROM {schema}.{table}
