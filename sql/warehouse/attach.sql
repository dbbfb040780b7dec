-- A read-write open: the database file becomes the session's default catalog, written in row groups of
-- 2,048 rows (DuckDB's smallest: one vector) instead of its 122,880. An insert that fills a row group writes
-- it, compressed, straight to the file before the commit, so that a large poll's raw bodies and snapshots
-- go to the file once: not into the WAL at the commit and again, compressed, at the checkpoint. A
-- checkpoint then rewrites only each table's last, partly filled row group. At 10,000 sessions this took
-- the commit and the checkpoint from about 145 ms of CPU to about 20 (BENCHMARKS.md, "Issue 15"). Readers
-- need no row group size (the file does not record it). Parameters: warehouse_path.
attach getvariable('warehouse_path') as warehouse (row_group_size 2048);
use warehouse;
reset variable warehouse_path;
