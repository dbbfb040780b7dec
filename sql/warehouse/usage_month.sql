-- Mark stale, for load/12_session_usage.sql to compute in full, the waiting sessions that started in one
-- month (null: those that never started). Parameters: usage_month.
insert into usage_stale (session_id, path)
select session_id, 'full'
from usage_waiting
where usage_month is not distinct from getvariable('usage_month');
