-- Record one migration as applied, in the migration's own transaction.
-- Parameters: migration_version, migration_name, migration_checksum (the sha256 of the file).
insert into schema_migrations (version, name, checksum)
values (getvariable('migration_version'), getvariable('migration_name'), getvariable('migration_checksum'));
