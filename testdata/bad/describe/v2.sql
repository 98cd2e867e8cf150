DESCRIBE orders
