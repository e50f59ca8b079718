"""The bot's aiohttp application: built-in classroom pages and the WHIP endpoint."""
