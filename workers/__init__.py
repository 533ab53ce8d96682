"""The delivery side: verified deliveries in, CRM requests out — batched, rate-limited,
retried, and effectively once. Never imports the web app.

How a delivery travels
----------------------
A verified delivery is written, with its dedupe mark, into the delivery ledger in one
Lua step before the 202; a worker leases it, maps it and writes its commands into the
outbox (once per delivery) and only then acks it; an expired lease (a dead worker)
puts it back, and the pump rings RQ again.

0. The web side stores the delivery in the ledger (`adapter.ledger`: state
   `received`, in `ready`) and rings the bell: one RQ job `jobs.take_deliveries`
   (queue `deliveries`), enqueued only when no bell is on its way. The job carries
   nothing; losing it costs a pump tick.
1. `jobs.take_deliveries()` (`take`) leases a batch (state `leased`, lease
   `delivery_lease_seconds`, renewed while it works) and maps each delivery
   (`adapter.mapping.map_delivery`). Local commands (ForgetShop, RecordDataRequest) run
   at once (`local`); CRM commands go into the outbox in one atomic step, together with
   a once-key for the delivery, so a delivery taken twice queues nothing twice
   (`intake`). Only then is it acked: `mapped`, with its outbox entry ids and external
   ids. A delivery that cannot be mapped is kept raw in the dead letters
   (`deadletters`) and acked `dead`; `redrive` replays dead letters.
2. The outbox (`outbox`) is durable in Redis: one queue per kind of request — DEALS
   (creates, 100 to a /create-deals-bulk, and updates: PATCHes without a GET, guarded
   by `updated_at`, identical ones grouped in one `id=in.(…)`; see `deals`), CONTACTS
   (/import-contacts-bulk, 500), LEADS (/create-lead, or /create-leads-bulk when
   several wait), CHANGES (redactions, one at a time). Each queue is a sorted set of
   due times, a sorted set of leases, and hashes of entries; every transition is one
   Lua script (`outbox_scripts`). Commands for one record merge while they wait
   (`coalesce`), and an update that changes nothing we last wrote is not sent
   (`snapshots`); docs/delivery.md.
3. `jobs.flush_outbox(kind)` (RQ, queue `outbox`) drains a queue (`flush`): it takes a
   request slot from the shared limiter first, then claims everything due up to the
   cap, then sends one request. So while the CRM's budget is spent, entries pile up,
   and the next free slot carries all of them: under a burst every request is full. A
   part-full batch leaves once its oldest entry has waited `batch_linger_seconds`
   (≤ 2 s), so a lone event still reaches the CRM within the linger.
4. Flush jobs are requested when commands are added (one queued at a time per kind, a
   flag with a TTL), fan out up to `crm_max_in_flight` under a backlog, and are
   requested again by the pump thread of every worker process for whatever comes due
   later (retries after backoff, leases of dead workers) (`scheduling`). The same
   pump rings for take jobs while the ledger holds due deliveries or expired leases.

Rate limit (`ratelimit`)
------------------------
One sliding-window log per API key in Redis (Lua, Redis TIME), the CRM's own algorithm,
scored conservatively (in-flight requests count until their lease, finished ones from
their completion), so we never send a request the CRM would refuse; at most
`crm_max_in_flight` in flight, as leases that free themselves; a 429 pauses the key for
every worker for its Retry-After. Keys are named by a hash of the API key.

Tenants (`adapter.tenants`, docs/tenants.md)
--------------------------------------------
Each store feeds one CRM organisation (a tenant); the top-level CRM settings are the
default tenant's. Intake decides a delivery's tenant from its source and store and
queues its commands in that tenant's outbox. Everything after that is per tenant
(`Context.for_tenant`): its outbox, flush jobs (`flush_outbox(kind, tenant)`), id
map, snapshots, customer look-ups (Redis keys under `tenant:<name>:`), CRM client,
rate limiter and in-flight bound. A 401/403 (`CrmKeyRefused`) pauses only that
tenant: its entries wait, uncounted as failures, and the request after each pause
probes the key again.

Effectively once
----------------
- Claims lock what they touch (the external id, the contact's email or phone, hashed)
  for the lease, so no two requests race for one record; a claim whose worker died is
  taken back when its lease expires (SIGKILL loses nothing). The lease is short (12 s,
  `ADAPTER_LEASE_SECONDS`) and renewed every quarter of it by a thread (`keeper`) for
  as long as the worker lives, however long a CRM request takes; so a killed worker's
  work is taken again within ~12 s whatever `crm_timeout_seconds` is. One request carries at
  most one command per external id: the newest of those claimed.
- RQ's own recovery of a dead worker's jobs is not relied on: a take job or a flush
  job lost with its worker leaves its deliveries leased in the ledger, or its entries
  leased in the outbox, until the lease expires; the pump then rings again. A
  delivery whose workers die while holding it `max_takes` times is dead-lettered.
- Deals are created with a deterministic title and `skip_if_exists`; before sending,
  each command's digest and version are noted in the id map (`idmap`). A row the CRM
  reports as skipped is our own earlier attempt when every create sent since the state
  was last known carried this same command (a 500 after commit, a timeout, a killed
  worker: nothing more to do); otherwise it is PATCHed to this command, which is the
  newest ever sent (older ones are skipped before sending).
- `/create-lead` does not dedupe, so a lead is created only when the id map has no deal
  for its external id, and one whose earlier attempt has no known outcome is first
  searched for by `custom_fields->>external_id` (under the lock).
- Every command carries the source's `updated_at`: a command identical to the last one
  applied, or older than one applied or sent, for its external id is skipped without
  a request. PATCHes merge custom_fields (and tags) into the deal's state as we last
  saw it, guarded by its `updated_at`; a guard that matches no row reads, merges and
  writes again.

Failures
--------
Transient (network, timeout, 5xx, 429, malformed 2xx): the batch goes back with
exponential backoff (1 s, 2 s, 4 s … 30 s, Retry-After honoured) and is dead-lettered
only after failing for `give_up_after`. Permanent (4xx): a batch is split into rows sent
alone, so only the bad row is dead-lettered, with the CRM's text and the original
command. Per-row errors of a bulk answer: transient ones retried alone, permanent ones
dead-lettered. `adapter deadletter list|show|replay|drop`.

Running: `adapter worker` (`runner.run_worker`), or `runner.start_worker_thread` inside
another process. Redis trouble (full, read-only, unreachable) never ends a worker: it
says so once and waits (`redis_trouble`). Status for `adapter status`:
`status.read_status`. Tests freeze a worker at a named instant with
`ADAPTER_TEST_PAUSE_AT` (`testpoints`).
"""
