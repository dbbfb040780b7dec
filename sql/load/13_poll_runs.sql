-- The poll's ledger row, written last in the same transaction as its data. Reads: staged_poll_run.
insert into poll_runs (
    poll_id, kind, started_at, finished_at, app_ids, livestreams, active_reads, sessions, requests,
    responses, retries, rate_limited, transport_errors, failed_calls, parse_issues, unknown_statuses,
    outcome, message, network_seconds, normalize_seconds, load_seconds, recovered, allowance,
    discovery_requests, planned_final, planned_live, planned_sweep, deferred_final, deferred_live,
    deferred_sweep, listing, planned_list, deferred_list, budget, clock_skew_seconds, clock_skewed
)
select
    poll_id, kind, started_at, finished_at, app_ids, livestreams, active_reads, sessions, requests,
    responses, retries, rate_limited, transport_errors, failed_calls, parse_issues, unknown_statuses,
    outcome, message, network_seconds, normalize_seconds, load_seconds, recovered, allowance,
    discovery_requests, planned_final, planned_live, planned_sweep, deferred_final, deferred_live,
    deferred_sweep, listing, planned_list, deferred_list, budget, clock_skew_seconds, clock_skewed
from staged_poll_run;
