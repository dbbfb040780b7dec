-- What this database has applied: one row per recorded migration (its number, file name and sha256), in
-- order, then one row with the sha256 of the definitions once they are applied (version and name null).
-- Read on every read-write open: on a new database it fails (no such table) and bookkeeping.sql runs first.
-- No parameters.
select version, name, checksum
from schema_migrations
union all
select null as version, null as name, checksum
from schema_definitions
order by version nulls last;
