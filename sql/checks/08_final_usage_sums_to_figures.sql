-- The hours of a final session in session_usage sum to its final figures (to a millionth of a second).
--
-- session_usage spreads each session's figures over the UTC hours it used them; it is the source of every
-- finance figure (daily and monthly usage, the finance statement). For a final session the usage rule caps
-- its curve at the final figures and ends it there, so its hours add up to exactly what Cloudflare
-- reports. If they do not, a month's statement would bill more or less than the sessions it lists: usage
-- was not computed again after the figures changed, or rows were lost or written twice. A session that
-- never started (no started_time) has no usage, and is left to the other checks.
-- One row per final session whose hours do not add up: its figures beside the sums of its hours.
with hours as (
    select session_id, sum(ingest_seconds) as usage_ingest, sum(viewer_seconds) as usage_viewer
    from session_usage
    group by session_id
),

final as (
    select
        s.session_id,
        s.ingest_seconds,
        coalesce(h.usage_ingest, 0) as usage_ingest_seconds,
        s.viewer_seconds,
        coalesce(h.usage_viewer, 0) as usage_viewer_seconds
    from sessions as s
    left join hours as h on h.session_id = s.session_id
    where s.is_final and s.started_time is not null
)

select * from final
where abs(coalesce(ingest_seconds, 0) - usage_ingest_seconds) > 1e-6
   or abs(coalesce(viewer_seconds, 0) - usage_viewer_seconds) > 1e-6
order by session_id;
