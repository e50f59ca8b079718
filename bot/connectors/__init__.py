"""Meeting connectors: one module per platform behind `bot.connectors.base.Connector`."""
