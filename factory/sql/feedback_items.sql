-- The prepared rows of the items corrected in production in the newest days of feedback on record (the newest
-- feedback day and the days before it, the parameter days in all), each with its latest correction
-- (`__feedback_label`) and the feedback day it was filed under (`__feedback_day`).
WITH newest AS (SELECT max(partition_key) AS day FROM {schema}.feedback),
corrections AS (
    SELECT f.{id_column} AS __feedback_id, f.corrected_label AS __feedback_label, f.partition_key AS __feedback_day
    FROM {schema}.feedback AS f, newest
    WHERE f.partition_key > CAST(CAST(newest.day AS DATE) - CAST(? AS INTEGER) AS VARCHAR)
    QUALIFY row_number() OVER (
        PARTITION BY f.{id_column} ORDER BY f.corrected_at DESC NULLS LAST, f.partition_key DESC
    ) = 1
)
SELECT p.* EXCLUDE (partition_key), c.__feedback_label, c.__feedback_day
FROM {schema}.prepared AS p
JOIN corrections AS c ON p.{id_column} = c.__feedback_id
ORDER BY c.__feedback_day, c.__feedback_id
