-- Record the definitions just applied, in the same transaction: schema_definitions keeps one row.
-- Parameters: definitions_checksum (one sha256 of every file of sql/definitions, in order).
delete from schema_definitions;

insert into schema_definitions (checksum)
values (getvariable('definitions_checksum'));
