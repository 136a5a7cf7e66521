"""The portal of consumers and suppliers: sign-in and sign-up, the gov.br login, the consumer's and the
supplier's pages, and the party case pages.
"""
