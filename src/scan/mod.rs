//! Scanner sources behind one trait, and document assembly into PDF.
