"""Inbox sources: .eml files, folders, mbox, Maildir and IMAP; they hand batches to a keep sink."""
