-- Rows per partition of one table.
SELECT partition_key, count(*) AS n FROM {schema}.{table} GROUP BY partition_key ORDER BY partition_key
