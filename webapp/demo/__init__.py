"""`procon demo`: demo users, portal accounts and example cases in every procedure."""
