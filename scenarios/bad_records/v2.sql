-- Same, with the filter written as NOT IN.
SELECT order_id, order_date, unit_price * quantity AS amount
FROM orders
WHERE status NOT IN ('cancelled')
