"""Consumers and suppliers: portal accounts, companies and representatives, API tokens, the parties of each
case and the plain-language view a party gets of its case.
"""
