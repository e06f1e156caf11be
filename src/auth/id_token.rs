//! ID token validation against the tenant JWKS (signature, iss, aud, exp/nbf, tid).
