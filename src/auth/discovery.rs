//! OpenID Connect discovery: endpoints of the tenant's authority, cached.
