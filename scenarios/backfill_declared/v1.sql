SELECT order_id, order_date, quantity * unit_price AS amount
FROM orders
WHERE order_date < '2026-03-01'
