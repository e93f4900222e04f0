-- Metrics history: one row per series, points of every resolution in one
-- table (res in seconds: 0 raw, 60 and 3600 rollups). Raw points have
-- min = max = p95 = value and n = 1.

CREATE TABLE metric_series (
    id        {{ID}},
    target    TEXT NOT NULL,
    namespace TEXT NOT NULL DEFAULT '',
    kind      TEXT NOT NULL,
    name      TEXT NOT NULL,
    replica   TEXT NOT NULL DEFAULT '',
    metric    TEXT NOT NULL,
    UNIQUE (target, namespace, kind, name, replica, metric)
);

CREATE TABLE metric_points (
    series_id BIGINT           NOT NULL REFERENCES metric_series (id) ON DELETE CASCADE,
    res       INTEGER          NOT NULL,
    ts        BIGINT           NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    min_value DOUBLE PRECISION NOT NULL,
    max_value DOUBLE PRECISION NOT NULL,
    p95       DOUBLE PRECISION NOT NULL,
    n         INTEGER          NOT NULL,
    PRIMARY KEY (series_id, res, ts)
);
-- Retention deletes and the rollup watermark go by resolution and time.
CREATE INDEX metric_points_res_ts ON metric_points (res, ts);
