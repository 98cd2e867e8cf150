-- 200 groups of 1,000 readings each (generated from the group list with
-- integer arithmetic, so every machine computes the same doubles),
-- aggregated in floating point: sums, means, spreads and a window sum.
WITH readings AS (
    SELECT g.g,
           r.i,
           g.scale * CAST((g.g * 7919 + r.i * 104729) % 1000003 AS DOUBLE) / 1000003.0 AS x
    FROM groups g
    CROSS JOIN (SELECT unnest(range(1000)) AS i) r
),
windowed AS (
    SELECT g, x, SUM(x) OVER (PARTITION BY g) AS group_total
    FROM readings
)
SELECT g,
       SUM(x) AS total,
       AVG(x) AS mean,
       STDDEV(x) AS spread,
       VAR_POP(x) AS variance,
       MAX(group_total) AS window_total
FROM windowed
GROUP BY g
