"""Federation PKI, result certificates and their seals: render, seal (PAdES) and verify
fail-closed. Implements exchange.ports.ResultIssuer and ResultVerifier."""
