-- The rows of the partitions from the first bound to the second, both included (partition keys are ISO dates).
SELECT * FROM {schema}.{table} WHERE partition_key >= ? AND partition_key <= ?
