-- March is backfilled.
SELECT order_id, order_date, quantity * unit_price AS amount
FROM orders
