"""Live venue I/O through ccxt: what talks to a real exchange.

* :mod:`producers.live.connector` — REST polling of public and account data;
* :mod:`producers.live.credentials` — each venue's credentials, from the environment;
* :mod:`producers.live.ws` — websocket feeds through ccxt.pro, channels per venue in
  :mod:`producers.live.ws_channels`;
* :mod:`producers.live.gateway` — ``orders.commands`` → ccxt orders, answers → ``orders.events``;
* :mod:`producers.live.account` — account reads (fills, funding payments) per venue.

Parsing of ccxt's structures into events is pure and lives in :mod:`producers.parse`; venue
facts in ``producers/venues/``; the simulated venue in :mod:`producers.paper`.
"""
