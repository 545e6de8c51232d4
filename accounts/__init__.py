"""Accounts of the people who keep the map: roles, scopes, passwords, sessions and tokens."""
