"""Recipients: who a publish reaches (users, topic members), what they accept (categories,
preferences, quiet hours) and how they opt out (signed unsubscribe links)."""
