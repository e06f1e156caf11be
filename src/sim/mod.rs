//! Simulated Entra ID and Microsoft Graph on loopback (feature demo).
