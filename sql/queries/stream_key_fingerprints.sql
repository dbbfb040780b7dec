-- The fingerprint of every stream key the warehouse has seen, one row each: a poll recognizes a key shown
-- again outside its own field by it (the keys themselves are never stored).
select distinct stream_key_fingerprint
from livestreams
where stream_key_fingerprint is not null
order by stream_key_fingerprint;
