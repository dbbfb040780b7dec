-- One table read whole, one row: its row count and a digest of every value of every column. DuckDB verifies
-- the checksum of every block it reads, so a damaged block of the table fails this query (a count(*) alone
-- would read no column). Parameters: table_name (a name from tables.sql).
select
    count(*) as row_count,
    bit_xor(hash(*columns(*))) as digest
from query_table(getvariable('table_name'));
