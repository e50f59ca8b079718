"""The ClassPulse service: REST API, access control and live sessions in one aiohttp process."""
