"""Feed runs: fetch → digest (parse, normalise) → store → cluster, and the next check.

``feedrun`` is one run, ``runner`` the tools runs share (used by ``poll`` and the daemon alike),
``round`` a one-shot round, ``schedule`` the polling policy, ``workers`` and ``digest`` the
parser processes and what they do.
"""
