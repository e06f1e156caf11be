//! Entra client facade: discovery + device code + refresh + ID-token validation.
