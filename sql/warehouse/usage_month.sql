-- Mark stale, for load/12_session_usage.sql to compute in full, the waiting sessions that started in one
-- month (null: those that never started), as the sessions of a batch are marked (load/11_usage_stale.sql).
-- Parameters: usage_month.
create or replace temp table usage_marks as
select session_id, 'full' as path, null::timestamptz as batch_since, null::varchar[] as batch_polls
from usage_waiting
where usage_month is not distinct from getvariable('usage_month');
