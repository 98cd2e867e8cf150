-- Renamed for the new API, and amounts now include 20% VAT.
SELECT order_id, customer_id, status AS order_status,
       quantity * unit_price * 1.2 AS amount
FROM orders
