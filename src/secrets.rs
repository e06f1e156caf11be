//! Device key file (0600), AEAD for refresh tokens at rest, keyed hashes for card numbers.
