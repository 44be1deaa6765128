"""The verbs of the portal: each takes a session and a keyword-only actor; none commits."""
