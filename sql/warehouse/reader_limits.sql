-- A bounded reading (`streamledger sql`, `report`, the dashboard): DuckDB's memory and its temporary files
-- are capped, and the files go to a folder of the reading's own, removed when it ends (DuckDB's default is
-- a folder beside the database, left behind when the process is killed). Set before the ad-hoc session
-- locks the configuration. Parameters: temp_directory, memory_limit, temp_limit (sizes as DuckDB reads
-- them, e.g. '1GB').
set temp_directory = getvariable('temp_directory');
set memory_limit = getvariable('memory_limit');
set max_temp_directory_size = getvariable('temp_limit');
