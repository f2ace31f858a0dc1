"""Anonymization engine for 匿名加工情報 and 非識別加工情報.

Reproducible, measured and recorded processing following the Personal
Information Protection Commission's standards: identifier and code deletion,
peculiar-value treatment, generalization under k-anonymity, l-diversity and
t-closeness, then a creation record (作成記録) and publication items (公表事項).
"""
