"""Hash-chained, append-only audit trail with daily Merkle roots."""
