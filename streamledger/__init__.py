"""streamledger: an exact, queryable history of Cloudflare RealtimeKit livestream sessions."""
