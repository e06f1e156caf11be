//! TOML configuration: parsing, defaults, the embedded demo default, validation with errors that name the key.
