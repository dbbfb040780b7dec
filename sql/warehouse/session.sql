-- Every connection: instants come back in UTC (DuckDB's default is the machine's zone), and DuckDB's own
-- progress bar is off (it would land in the middle of CSV on stdout and of the logs). No parameters.
set TimeZone = 'UTC';
set enable_progress_bar = false;
