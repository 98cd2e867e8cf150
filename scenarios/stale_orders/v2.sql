-- Meant to skip test orders; the date filter keeps only January.
SELECT order_id, order_date, status
FROM orders
WHERE order_date < '2026-02-01'
