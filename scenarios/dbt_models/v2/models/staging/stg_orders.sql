-- Orders with their amount; cancelled and returned orders carry no revenue.
select
    order_id,
    customer_id,
    status,
    case when status in ('cancelled', 'returned') then 0 else quantity * CAST(unit_price AS DECIMAL(12, 2)) end as amount
from {{ source('shop', 'orders') }}
