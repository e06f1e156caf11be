//! Microsoft Graph client: /me and drive item uploads under the user's delegated token.
