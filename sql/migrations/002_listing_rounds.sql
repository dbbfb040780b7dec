-- Discovery by the list's status filter (issue 12): how each poll listed livestreams, and the rounds of the
-- full listing that a filtered poll spreads over the polls of a full-listing interval; and the request
-- budget each poll drew on, so that polls of tokens with different budgets do not count against each other.

alter table poll_runs add column listing varchar;
alter table poll_runs add column planned_list integer default 0;
alter table poll_runs add column deferred_list integer default 0;
alter table poll_runs add column budget varchar;

-- One row per app per poll that read pages of the app's full (unfiltered) livestream list.
create table listing_rounds (
    poll_id          varchar     not null,
    app_id           varchar     not null,
    fetched_at       timestamptz not null,
    round_started_at timestamptz not null,
    first_page       integer     not null,
    last_page        integer     not null,
    total_count      integer,
    complete         boolean     not null,
    filter_ignored   boolean     not null,
    primary key (poll_id, app_id)
);
