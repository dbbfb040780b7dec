-- After a poll's commit: write what the WAL holds into the database file now, so that the close has nothing
-- left to write (and the load times the two apart). No parameters.
checkpoint;
