"""The phrase catalogue the sample is written from.

Data only: locales and shared phrases (:mod:`.phrases`), scopes with their rule
templates (:mod:`.scopes`), norms (:mod:`.norms`) and what corrections say
(:mod:`.themes`). Nothing here draws random numbers.
"""
