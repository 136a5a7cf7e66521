"""Public pages with no login: document verification, a supplier's complaint record and the cadastro de
reclamações fundamentadas.
"""
