-- A stop, start or restart of a service holds this lease while it runs, so two
-- of them never run at once, on any replica: the holder's token and when the
-- lease runs out (ms since the epoch) unless its holder renews it. NULL: none.
ALTER TABLE services ADD COLUMN power_owner TEXT;
ALTER TABLE services ADD COLUMN power_until BIGINT;
