-- What a database records about its own schema, created on every read-write open before anything else:
-- the numbered migrations applied (sql/migrations), and the checksum of the definitions applied
-- (sql/definitions: views, macros, comments). No parameters.
create table if not exists schema_migrations (
    version    integer     primary key,
    name       varchar     not null,
    checksum   varchar     not null,
    applied_at timestamptz not null default now()
);

create table if not exists schema_definitions (
    checksum   varchar     not null,
    applied_at timestamptz not null default now()
);
