"""The process analysts' pages: Processos (modeler, validate, deploy, compare, migrate), Formulários (form
editor) and Testar (sandbox).
"""
