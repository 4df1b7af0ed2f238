"""A stand-in comparison step: no inputs, prints its verdict."""

scores = {"left": 0.7, "right": 0.8}
print(f"compared: {max(scores, key=scores.get)} wins")
