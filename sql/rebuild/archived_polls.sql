-- Rebuild only: add the polls of one archive file to rebuild_polls. A poll already listed (still in
-- raw_responses, or in an earlier file) keeps its source: a poll is replayed from one place only.
-- Parameters: file.
insert into rebuild_polls (poll_id, responses, file)
with archived as (
    select poll_id, count(*) as responses, getvariable('file') as file
    from read_parquet(getvariable('file'))
    group by poll_id
),

final as (
    select a.poll_id, a.responses, a.file
    from archived as a
    anti join rebuild_polls as p on p.poll_id = a.poll_id
)

select * from final;
