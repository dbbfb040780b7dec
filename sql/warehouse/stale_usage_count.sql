-- How many sessions wait for their usage to be computed (after a migration marked them stale).
select count(*) as sessions from usage_stale;
