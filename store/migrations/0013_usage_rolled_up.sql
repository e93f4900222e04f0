-- Which closed intervals the running totals (0012) hold. This berth closes
-- an interval and rolls it up in one transaction, setting rolled_up. A
-- replica of the previous release (0011: it keeps the monthly roll-ups, not
-- the running totals), still running beside a newer one during a rolling
-- upgrade, closes intervals without knowing the column and leaves it at 0.
-- The leader's usage heartbeat adds such intervals to the running totals and
-- marks them (store.rollUpStragglers), so reports stay exact. Every interval
-- closed before this migration is marked, and the migration's Go step
-- (store/migrate.go) rebuilds the running totals in this transaction: an old
-- replica may have closed intervals after 0012's step read them, and this
-- ALTER TABLE keeps writers out of usage_intervals until the commit. 0012 and
-- 0013 ship together: a berth with 0012 but not 0013 would add to the running
-- totals without marking.
ALTER TABLE usage_intervals ADD COLUMN rolled_up INTEGER NOT NULL DEFAULT 0;
UPDATE usage_intervals SET rolled_up = 1 WHERE ended_at IS NOT NULL;
CREATE INDEX usage_intervals_unrolled ON usage_intervals (id) WHERE ended_at IS NOT NULL AND rolled_up = 0;
