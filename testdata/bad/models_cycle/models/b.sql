select * from a
