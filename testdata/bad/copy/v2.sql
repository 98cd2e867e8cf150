COPY orders TO 'stolen.csv'
