select
    c.id as customer_id,
    c.name,
    {{ dbt_utils.star(ref('orders_enriched'), relation_alias='o', except=['customer_id']) }}
from {{ ref('stg_customers') }} as c
join {{ ref('orders_enriched') }} as o on o.customer_id = c.id
