"""Pure rules: no database, no clock, no I/O."""
