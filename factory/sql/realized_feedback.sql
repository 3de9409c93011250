-- The corrected predictions of one model version (first parameter) filed in the feedback days from the second
-- parameter to the third, both included: each item's latest correction with the prediction it corrects.
SELECT f.{id_column}, f.predicted_label, f.corrected_label
FROM {schema}.feedback AS f
JOIN {schema}.predictions AS p ON p.{id_column} = f.{id_column} AND p.predicted_label = f.predicted_label
WHERE p.model_version = ? AND f.partition_key >= ? AND f.partition_key <= ?
QUALIFY row_number() OVER (
    PARTITION BY f.{id_column} ORDER BY f.corrected_at DESC NULLS LAST, f.partition_key DESC, p.partition_key DESC
) = 1
