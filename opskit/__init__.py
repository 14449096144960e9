"""opskit: production operations for Django.

Importing this package does nothing but define the version: settings are
read, metrics registered and connections opened only when Django starts the
app (``AppConfig.ready``) or a request arrives.
"""

__version__ = "0.1.0"
