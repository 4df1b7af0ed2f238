"""A one-step pipeline's step, for schedules: print the largest of a fixed series."""

series = [2, 7, 1, 8, 2, 8]
print(f"scheduled step: largest {max(series)}")
