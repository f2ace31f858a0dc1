"""Procedures: catalog and inventory (棚卸), forms, applications, workflow, decisions."""
