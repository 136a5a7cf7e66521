"""The staff's pages: inbox and task forms, case pages, documents, incidents, the Painel and the calendar
administration.
"""
