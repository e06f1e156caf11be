//! Scan workflows: definitions, file-name templates, the job runner.
