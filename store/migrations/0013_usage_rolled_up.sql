-- Which closed intervals the roll-ups (0011) and the running totals (0012)
-- hold. This berth closes an interval and rolls it up in one transaction,
-- setting rolled_up. A replica from before 0011, still running beside a
-- newer one during a rolling upgrade, closes intervals without rolling them
-- up and leaves rolled_up at 0. The leader's usage heartbeat rolls such
-- intervals up and marks them (store.rollUpStragglers), so reports stay exact.
-- Every interval closed before this migration is already in the roll-ups:
-- 0011's and 0012's steps filled them.
ALTER TABLE usage_intervals ADD COLUMN rolled_up INTEGER NOT NULL DEFAULT 0;
UPDATE usage_intervals SET rolled_up = 1 WHERE ended_at IS NOT NULL;
CREATE INDEX usage_intervals_unrolled ON usage_intervals (id) WHERE ended_at IS NOT NULL AND rolled_up = 0;
