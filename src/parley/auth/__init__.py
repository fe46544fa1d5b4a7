"""Authentication: HS256 JWT keys (Honcho's claims) and the principal they stand for."""
