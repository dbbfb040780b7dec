-- Rebuild only: one row with how many raw responses an archive file holds, to compare with raw_archive.
-- Parameters: file.
select count(*) as responses
from read_parquet(getvariable('file'));
