"""Write paths that fan out across apps (the Zulip `actions/` model): each is one
transaction that changes the record, tells the other apps through a signal, and rings the
sockets after commit."""
