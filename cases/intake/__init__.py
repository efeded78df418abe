"""Filing from every channel: the form's rules (`forms`), validating and filing a case
(`filing`), photos on their way to a case (`photos`), duplicates, per-citizen quotas, chat
drafts, subscribe consents and the citizen's supplements. Imports `store`, `workflow` and the
shared leaves."""
