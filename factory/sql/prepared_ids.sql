-- Every prepared item id with the day it belongs to: where an imported annotation is filed.
SELECT CAST({id_column} AS VARCHAR) AS item_id, partition_key FROM {schema}.prepared
