COPY (SELECT * FROM orders) TO '/tmp/diffgate-stolen.csv' STORED AS CSV
