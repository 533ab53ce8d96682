"""`python -m bench.wrk`: ingest throughput measured from outside with wrk.

`adapter serve` (its Redis a separate redis-server with AOF, `appendfsync everysec`)
and a bare Starlette app that only verifies the Shopify HMAC run as separate processes
under the same uvicorn options; `wrk -t2 -c32` posts signed ~3.5 KB orders to each in
turn (A B A B ...), every request with a webhook id of its own. It talks HTTP only, so
it measures whatever the inbox does behind the endpoint.
"""
