"""Process modelling: parsing BPMN (with the Camunda attributes), validation, deployed definitions and
their versions, drafts, comparison of versions and the sandbox ("Testar").
"""
