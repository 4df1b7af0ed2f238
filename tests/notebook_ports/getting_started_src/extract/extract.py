"""A stand-in extraction step: no inputs, prints what it extracted."""

words = ["one", "two", "three"]
print(f"extracted {len(words)} words")
