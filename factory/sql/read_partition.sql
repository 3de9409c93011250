SELECT * FROM {schema}.{table} WHERE partition_key = ?
