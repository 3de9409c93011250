-- Days whose labels failed the agreement gate (the newest materialization of each day is the one kept).
SELECT partition_key, summary FROM {schema}.label_quality WHERE NOT agreement_passed ORDER BY partition_key
