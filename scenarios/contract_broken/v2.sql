-- Cancelled orders are now refunds, with a negative amount and a new status.
SELECT order_id,
       customer_id,
       CASE WHEN status = 'cancelled' THEN 'refunded' ELSE status END AS status,
       CASE WHEN status = 'cancelled' THEN -quantity * unit_price
            ELSE quantity * unit_price END AS amount
FROM orders
