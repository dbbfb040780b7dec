-- A read-write open: the database file becomes the session's default catalog, written in row groups of
-- 10,240 rows instead of DuckDB's 122,880. A checkpoint rewrites the table's last row group, the one a poll
-- appends to: with 122,880 rows that is up to twelve 10,000-session polls of raw bodies, compressed again
-- at every poll (the load's slowest step and the poll's memory peak); with 10,240 it is at most one. A
-- poll's larger appends are written straight to the file before the commit. Readers need no row group
-- size (the file does not record it). Parameters: warehouse_path.
attach getvariable('warehouse_path') as warehouse (row_group_size 10240);
use warehouse;
reset variable warehouse_path;
