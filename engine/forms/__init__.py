"""Forms: the JSON form schema, server-side validation of submissions, and the catalogue of versions
published from the form editor.
"""
