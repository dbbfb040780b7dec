-- Every final session has its final figures, or a parse issue that says why a figure is missing.
--
-- A session is final once two reads after its stop, in different polls, reported the same ingest and
-- viewer seconds; from then on its figures are what finance is told. A final session with a null figure
-- would be billed as zero. The only honest way for one to lack a figure is a value the API sent that could
-- not be typed (or a figure missing from a started session), and then parse_issues records it for that
-- session and figure (field session.ingest_seconds or session.viewer_seconds).
-- One row per final session with a null figure that no parse issue explains.
with unexplained as (
    select
        s.session_id,
        s.livestream_id,
        s.finalized_at,
        s.ingest_seconds,
        s.viewer_seconds,
        s.ingest_seconds is null and not exists (
            select 1 from parse_issues as i
            where i.session_id = s.session_id and i.field = 'session.ingest_seconds'
        ) as ingest_unexplained,
        s.viewer_seconds is null and not exists (
            select 1 from parse_issues as i
            where i.session_id = s.session_id and i.field = 'session.viewer_seconds'
        ) as viewer_unexplained
    from sessions as s
    where s.is_final and (s.ingest_seconds is null or s.viewer_seconds is null)
)

select session_id, livestream_id, finalized_at, ingest_seconds, viewer_seconds
from unexplained
where ingest_unexplained or viewer_unexplained
order by session_id;
