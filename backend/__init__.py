"""A multi-user task API for Better Auth frontends, served as a cold-startable function."""
