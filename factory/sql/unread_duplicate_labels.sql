-- Days whose prepared items gained duplicates after their annotations were made: the labels those later copies
-- carried are not read yet. `read` is the fewest rows a `column` annotation source of the day read (its items and
-- their duplicates at the time); `rows` is what it would read now.
WITH items AS (
    SELECT partition_key, count(*) AS items FROM {schema}.prepared GROUP BY partition_key
), copies AS (
    SELECT p.partition_key, count(*) AS copies
    FROM {schema}.duplicates AS d JOIN {schema}.prepared AS p ON d.duplicate_of = p.{id_column}
    GROUP BY p.partition_key
), done AS (
    SELECT partition_key, min(records) AS read FROM {schema}.annotation_sources WHERE kind = 'column'
    GROUP BY partition_key
)
SELECT done.partition_key, items.items + copies.copies AS rows, done.read
FROM done JOIN items USING (partition_key) JOIN copies USING (partition_key)
WHERE done.read < items.items + copies.copies
ORDER BY done.partition_key
