"""Identity (minimal): users and a login that returns a JWT; the security issue hardens it."""
