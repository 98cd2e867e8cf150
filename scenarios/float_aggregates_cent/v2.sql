-- v2: v1 with one cent added to one group's total.
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
       SUM(x) + CASE WHEN g = 7 THEN 0.01 ELSE 0 END AS total,
       AVG(x) AS mean,
       STDDEV(x) AS spread,
       VAR_POP(x) AS variance,
       MAX(group_total) AS window_total
FROM windowed
GROUP BY g
