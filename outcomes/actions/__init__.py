"""Write paths of survey sessions that fan out (Zulip's actions/ model): answering, finishing
and expiring a session (answers.py), the texts a session sends (prompts.py), the SMS session
(sms_session.py) and the web form (web_session.py). Each runs inside its caller's transaction
or opens its own."""
