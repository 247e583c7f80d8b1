"""mailticket: the email-driven helpdesk daemon of LPSE Provinsi Lampung."""

__version__ = "0.1.0"
