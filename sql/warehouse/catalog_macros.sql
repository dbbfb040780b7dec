-- The warehouse's macros with their parameters and comments (sql/definitions, each in its own file), by
-- name: the second half of docs/tables.md (`make docs`). No parameters.
select
    function_name as name,
    function_type as kind,
    parameters,
    comment
from duckdb_functions()
where database_name = current_database() and schema_name = 'main' and not internal
order by name, kind;
