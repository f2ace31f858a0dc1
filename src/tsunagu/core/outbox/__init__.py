"""Transactional outbox: events written with the business change, dispatched by workers."""
