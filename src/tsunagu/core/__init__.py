"""Foundation shared by every module: settings, database, ids, audit, outbox, i18n."""
