"""The funding-rate arbitrage strategy (the engine's first plug-in): policy, forecast, decide."""
