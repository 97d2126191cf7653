"""Mail in and out: SMTP/IMAP intake, the processing pipeline, and the outbox."""
