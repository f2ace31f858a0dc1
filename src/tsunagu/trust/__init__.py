"""Trust services: the PKI behind the digital card, signatures, time-stamps and validity.

Nothing here knows about persons or sessions; ``identity`` builds on it.
"""
