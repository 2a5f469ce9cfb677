"""The Xet front door: the CAS HTTP API hf_xet talks to, and the hub routes that hand out its tokens.

`cas` serves /xet-cas/v1/… (xorbs, shards, reconstructions, global dedup, signed xorb range fetches),
`hub_routes` the hub side (xet-read/write-token, storage accounting), and `responses` streams the plain
bytes of Xet files to clients that do not speak Xet.
"""

from modelyard.services.xet import CAS_PREFIX

__all__ = ["CAS_PREFIX"]
