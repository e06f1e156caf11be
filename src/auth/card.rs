//! Card number normalisation: turns what a reader yields into the number the directory knows.
