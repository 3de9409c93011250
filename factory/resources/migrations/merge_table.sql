-- Move every row of a legacy table into the table that replaces it, then drop the legacy table.
INSERT INTO {schema}.{new} BY NAME SELECT * FROM {schema}.{old};
DROP TABLE {schema}.{old}
