"""Real test servers (Dovecot, an aiosmtpd sink), their install script and pytest fixtures."""
