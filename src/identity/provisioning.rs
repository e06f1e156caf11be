//! Just-in-time provisioning: builds and updates the local user record from a sign-in.
