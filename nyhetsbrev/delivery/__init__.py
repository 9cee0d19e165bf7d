"""Issues to inboxes: the send policy, the ledger, SMTP, DKIM, bounces, records, the doctor."""
