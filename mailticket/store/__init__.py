"""Rows in the database: raw mail, tickets and their messages, meta claims."""
