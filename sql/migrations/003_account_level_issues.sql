-- 003: parse issues of account-level responses (the apps list) belong to no app.
alter table parse_issues alter column app_id drop not null;
