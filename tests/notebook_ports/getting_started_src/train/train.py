"""A stand-in training step: no inputs, prints what it did."""

weights = [round(0.1 * k, 1) for k in range(1, 4)]
print(f"trained weights {weights}")
