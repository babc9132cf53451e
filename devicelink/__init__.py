"""I/O for the Stampside link: transports, the link session, reconnects."""
