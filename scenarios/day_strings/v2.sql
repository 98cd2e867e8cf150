SELECT customer_id,
       CAST(signup_date AS DATE) AS signup_day
FROM customers
