"""LGPD (Lei 13.709/2018): who read which case (the access log), masking personal identifiers where the
full value is not needed (the audit trail), and everything the system holds about one person (by CPF).

Its own package because it reads across the others (cases from ``store``, accounts and case parties from
``parties``, field types from ``forms``) and nothing but the web app and the runtime's audit masking reads it.
"""
