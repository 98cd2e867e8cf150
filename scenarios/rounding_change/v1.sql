SELECT order_id, round(CAST(unit_price AS DECIMAL(10, 3)), 2) AS price_cents_rounded
FROM orders
