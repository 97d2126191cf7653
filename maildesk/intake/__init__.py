"""Taking mail in: the SMTP listener, the IMAP poller, and the durable store behind both."""
