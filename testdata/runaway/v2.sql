SELECT 1 AS n, count(*) AS c
FROM orders a, orders b, orders c, orders d
