"""The benchmarks behind `procon bench`: engine per-step cost, deadline worker at scale, and the Painel at
a state's size.
"""
