-- Every prepared row that has a label, across all partitions: the material of a dataset version. A prepared column
-- named `label` (the data's own labels, read by a `column` annotation source) gives way to the aggregated label.
SELECT p.*, l.label, l.confidence AS label_confidence, l.source AS label_source
FROM (SELECT COLUMNS(lambda c: lower(c) <> 'label') FROM {schema}.prepared) AS p
JOIN {schema}.labels AS l
  ON l.item_id = p.{id_column} AND l.partition_key = p.partition_key
