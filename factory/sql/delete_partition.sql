DELETE FROM {schema}.{table} WHERE partition_key = ?
