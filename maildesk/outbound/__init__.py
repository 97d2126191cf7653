"""Mail out: composing, the transactional outbox, reply tokens, bounces and the sender."""
