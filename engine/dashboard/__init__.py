"""The Painel's read side: deadline compliance, now-lists, flow times and backlog, and the aggregate tables
kept in the same transaction as each command.
"""
