"""The completeness checklist and its detectors: what a bug report must say, found in free text.

Not rules: the ``completeness`` and ``followup`` rules (and the digest) use them.
"""
