-- Untouched by v2: not compared, and run once for both versions.
select status, count(*) as orders
from {{ source('shop', 'orders') }}
group by status
