INSERT INTO {schema}.{table} BY NAME SELECT * FROM incoming
