"""What the suite, the fault tests and the bench share: services, processes, rows, polling."""
