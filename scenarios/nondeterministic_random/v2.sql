-- A score to pick customers for a manual spot check.
SELECT customer_id, name, country, random() AS spot_check_score
FROM customers
