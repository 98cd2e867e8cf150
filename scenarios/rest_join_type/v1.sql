-- One row per user with order totals; users without orders count zero.
WITH u AS (
    SELECT id AS user_id, name, plan, address['country'] AS country
    FROM users
)
SELECT u.user_id, u.name, u.plan, u.country,
       count(o.order_id) AS order_count,
       coalesce(sum(CAST(o.amount AS DECIMAL(12, 2))), 0) AS total_spent
FROM u
LEFT JOIN orders o ON o.user_id = u.user_id
GROUP BY u.user_id, u.name, u.plan, u.country
