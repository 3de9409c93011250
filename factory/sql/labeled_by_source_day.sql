-- Prepared rows per source and day that carry a label, for every day up to the given one.
SELECT p.source, p.partition_key, count(*) AS n
FROM {schema}.prepared AS p
JOIN {schema}.labels AS l
  ON l.item_id = p.{id_column} AND l.partition_key = p.partition_key
WHERE p.partition_key <= ?
GROUP BY p.source, p.partition_key
