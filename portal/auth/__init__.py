"""Accounts, password hashing, second factors, sessions, throttling and permissions."""
