-- The warehouse's description of itself: one row per column of every table and view, with the comment
-- of the column and of its table or view (sql/definitions: 00_table_comments.sql and each view's own
-- file). Tables first, then views, each by name, columns in their order. docs/tables.md is made from it
-- (`make docs`). No parameters.
with relations as (
    select 'table' as kind, table_name as name, comment
    from duckdb_tables()
    where database_name = current_database() and schema_name = 'main' and not temporary and not internal
    union all
    select 'view' as kind, view_name as name, comment
    from duckdb_views()
    where database_name = current_database() and schema_name = 'main' and not temporary and not internal
),

final as (
    select
        r.kind,
        r.name,
        r.comment,
        c.column_index,
        c.column_name,
        c.data_type,
        c.comment as column_comment
    from relations as r
    inner join duckdb_columns() as c
        on c.database_name = current_database() and c.schema_name = 'main' and c.table_name = r.name
)

select * from final
order by kind, name, column_index;
