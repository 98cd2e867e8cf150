select country, sum(revenue) as revenue, sum(orders) as orders
from {{ ref('customer_revenue') }}
group by country
