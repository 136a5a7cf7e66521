"""Legal deadlines' calendar: counting rules (Lei 9.784/1999 art. 66), each unit's working days, closures
and suspensions, deadline lengths per unit, and their tables.
"""
