"""A one-step pipeline's step: print a checksum of a fixed series."""

series = [3, 1, 4, 1, 5, 9, 2, 6]
print(f"endpoint step: checksum {sum(k * v for k, v in enumerate(series))}")
