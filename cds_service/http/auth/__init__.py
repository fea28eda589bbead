"""Who may call: the JWT (verify.py), the issuers' keys (keys.py), jti replay (replay.py)."""
