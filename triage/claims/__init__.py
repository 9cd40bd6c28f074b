"""Claims helpers shared by the claim rules and the email commands (not rules themselves)."""
