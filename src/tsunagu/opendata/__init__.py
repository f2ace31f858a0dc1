"""Open data catalog: CKAN-compatible Action API, DCAT-AP 3, Japanese search, datastore."""
