"""The OAI-PMH 2.0 provider (decision 0025): which records are public (``records``), stateless resumption
tokens (``tokens``), the response XML (``xml``) and the six verbs (``provider``). Served at ``/oai`` by
``preservation.api.routes.oai``; no FastAPI here."""
