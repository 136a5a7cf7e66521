"""Persistence: the database connection, the core tables (cases, projections, audit, users, documents), the
stored case format and its migrations, protocol numbers. Imports nothing above it.
"""
