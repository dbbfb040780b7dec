-- Delete the archived day's raw responses and record its file, in the day's transaction (the file is
-- already verified on disk). Reads: archive_day_polls.
delete from raw_responses
where poll_id in (select poll_id from archive_day_polls);

-- Parameters: day, polls, responses, bytes, sha256, file, first_poll_id, last_poll_id, archived_at.
insert into raw_archive (
    day, polls, responses, bytes, sha256, file, first_poll_id, last_poll_id, archived_at
)
values (
    getvariable('day'), getvariable('polls'), getvariable('responses'), getvariable('bytes'),
    getvariable('sha256'), getvariable('file'), getvariable('first_poll_id'), getvariable('last_poll_id'),
    getvariable('archived_at')
)
on conflict (day) do update set
    polls = excluded.polls,
    responses = excluded.responses,
    bytes = excluded.bytes,
    sha256 = excluded.sha256,
    file = excluded.file,
    first_poll_id = excluded.first_poll_id,
    last_poll_id = excluded.last_poll_id,
    archived_at = excluded.archived_at;
