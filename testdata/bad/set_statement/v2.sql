SET datafusion.execution.batch_size = 1
