-- The piece of one step of a curve (d microseconds from from_at to to_at) that lands in the UTC hour that
-- starts at `hour`, in integer microseconds; 0 for an hour the step does not reach. The hours a step can
-- reach are generate_series(date_trunc('hour', from_at), to_at, interval 1 hour).
create or replace macro usage_piece_us(d, from_at, to_at, hour) as
    case
        when to_at = from_at then d::hugeint
        else
            d::hugeint * (least(epoch_us(hour) + 3600000000, epoch_us(to_at)) - epoch_us(from_at))
                // (epoch_us(to_at) - epoch_us(from_at))
            - d::hugeint * greatest(epoch_us(hour) - epoch_us(from_at), 0)
                // (epoch_us(to_at) - epoch_us(from_at))
    end;

comment on macro usage_piece_us is
    'The usage rule''s split of a step of a curve: the integer microseconds of it that land in one UTC '
    'hour; the pieces of a step sum to it exactly.';
