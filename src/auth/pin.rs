//! PIN policy, argon2id hashing and verification.
