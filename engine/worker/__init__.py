"""The worker: acquisition of due work (timers, warnings, escalations, external service jobs, the account
e-mail outbox) apart from the handling of each kind.
"""
