"""MDT Portal: multi-agency coordination where the owner discloses."""
