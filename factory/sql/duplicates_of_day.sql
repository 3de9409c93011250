-- The rows removed as duplicates (on any day) of one day's prepared items: the labels they carried belong to
-- the items kept.
SELECT * FROM {schema}.{table}
WHERE duplicate_of IN (SELECT {id_column} FROM {schema}.prepared WHERE partition_key = ?)
