-- The base tables of the warehouse, one row per table, by name: what a whole read (read_table.sql) reads.
-- No parameters.
select table_name
from duckdb_tables()
where database_name = current_database() and schema_name = current_schema() and not temporary
order by table_name;
