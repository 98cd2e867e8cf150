-- Order value, cancelled orders excluded.
SELECT order_id, order_date, quantity * unit_price AS amount
FROM orders
WHERE status <> 'cancelled'
