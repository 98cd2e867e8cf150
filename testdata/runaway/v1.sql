SELECT 1 AS n, count(*) AS c FROM orders
