-- Prepared rows per source and day in which preparation replaced PII by a placeholder: the listed columns
-- (first parameter) joined, matched against the placeholder pattern (second), for every day up to the third.
SELECT source, partition_key,
       count(*) FILTER (
           WHERE regexp_matches(concat_ws(chr(10), *COLUMNS(lambda c: list_contains(?::VARCHAR[], c))), ?)
       ) AS n
FROM {schema}.prepared
WHERE partition_key <= ?
GROUP BY source, partition_key
