SELECT order_id,
       CAST(trunc(CAST(unit_price AS DECIMAL(10, 3)), 2) AS DECIMAL(10, 2)) AS price_cents_rounded
FROM orders
