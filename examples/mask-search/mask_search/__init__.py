"""A small mask search: score N synthetic images against a mask, keep the best matches.

A miniature of the seed's real use case (searching a large image library for the images that best
match a mask). Image ``i`` is a 16 x 16 binary image generated deterministically from ``i``; the
score of an image is the fraction of the mask's pixels it matches.
"""
