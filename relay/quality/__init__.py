"""Statistical data quality: partition profiles, rules against a reference window, and the gate
that keeps blocked partitions out of every later run."""
