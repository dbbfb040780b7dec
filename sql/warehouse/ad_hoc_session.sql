-- The session of ad-hoc SQL (`streamledger sql`), on a read-only connection: reading and writing other
-- files is off, and the configuration is locked so that the statement cannot switch it back on.
-- No parameters.
set enable_external_access = false;
set lock_configuration = true;
