"""Use cases: one short function per command, written against ports (see `ports`)."""
