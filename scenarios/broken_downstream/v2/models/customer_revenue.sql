select
    customer_id,
    count(*) as orders,
    sum(amount) as revenue
from {{ ref('stg_orders') }}
where status <> 'cancelled'
group by customer_id
