//! OAuth 2.0 device authorization grant against Entra (request, polling, cancel).
