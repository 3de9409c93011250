-- The newest drift report: the latest day, and for a re-run day, the latest write.
SELECT partition_key, score, threshold, created_at, rows,
       reference_macro_f1, reference_accuracy, estimated_macro_f1, estimated_accuracy,
       realized_macro_f1, realized_accuracy, feedback_rows,
       estimated_macro_f1_se, estimated_accuracy_se, realized_macro_f1_se, realized_accuracy_se
FROM {schema}.drift_report
ORDER BY partition_key DESC, created_at DESC
LIMIT 1
