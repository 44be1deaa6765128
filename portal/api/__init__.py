"""/api/v1: JSON for an agency's own systems, through the same services and disclosure point."""
