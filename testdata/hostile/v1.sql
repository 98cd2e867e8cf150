SELECT id, label AS note, amount, id * 10 AS "<img src=x onerror=alert(1)>|col`@x"
FROM items
