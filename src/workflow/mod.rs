//! Scan workflows: definitions, file-name templates, the job runner.

pub mod template;
