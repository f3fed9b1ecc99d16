"""Use cases: each takes a unit of work and a `now`; the only code that writes."""
