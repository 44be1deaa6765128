"""The demo: synthetic, obviously fictional agencies, staff, clients and MDT cases."""
