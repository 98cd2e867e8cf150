SELECT order_id,
       status,
       unit_price,
       quantity * unit_price AS amount
FROM orders
