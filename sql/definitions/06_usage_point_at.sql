-- The usage rule: the source of every finance figure. Stated here once; session_usage is kept with these
-- macros by the load (sql/load/12_session_usage.sql), for the sessions each poll observed, and by rebuild.
--
-- Rule: a session's cumulative figures form a curve on the API's clock: 0 at started_time; each reading at
-- the time it was observed, clamped into [started_time, stopped_time] (usage_point_at); the final figures at
-- stopped_time once the session is final. Points at one instant (every reading after the stop is clamped to
-- it) follow each other in the order they were observed (point_at, then ord: start 0, reading 1, stop 2,
-- then observed_at, then poll_id), the same order for the running maximum and for the steps between points,
-- so a tie can neither count a step twice nor drop one. Placeholders (both figures exactly 60 within 90 s of
-- the start), readings without both figures, and readings observed more than a day before the start (a
-- clock far off; bounding them lets a poll read only the recent end of session_snapshots) are not readings
-- (usage_is_reading). The curve is made monotone (running maximum; a dip is not negative usage) and, for a
-- final session, capped at the final figures, so its hours sum to the final figures. Between two points
-- usage is spread evenly over time: an unobserved stretch (between polls, or from the last reading to the
-- stop) lands in the hours it spans, split at every hour, day and month boundary (usage_piece_us). A session that never started has no usage.
--
-- Exactness: figures are decimal seconds to the microsecond. A step of d microseconds from a to b is split
-- in integer microseconds: the hour [h, h + 1 h) gets floor(d * e / T) - floor(d * s / T), where s and e are
-- the hour's overlap with [a, b) measured from a and T = b - a (a step at one instant lands whole in its
-- hour). The pieces of a step sum to d exactly, and an hour's usage is the exact sum of its pieces, so that
-- adding a poll's new steps to the hours they touch (the load's incremental path) gives exactly what
-- computing the session's whole curve again gives (its full path).

create or replace macro usage_point_at(observed_at, started_time, stopped_time) as
    greatest(least(observed_at, coalesce(stopped_time, observed_at)), started_time);

comment on macro usage_point_at is
    'The usage rule''s place of a reading on its session''s curve: observed_at clamped into '
    '[started_time, stopped_time] (see sql/definitions/06_usage_point_at.sql).';
