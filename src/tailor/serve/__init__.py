"""`tailor serve`: one FastAPI application over one knowledge base (`app.create_app`).

    app.py        the application: routers, limits, metrics, the web UI (static/) at /
    state.py      the parts every route reaches (`request.app.state.serve`)
    auth.py       bearer keys (keys.py) on every /v1 route, the rate limit (limits.py), `Admin`
    answering.py  model names -> cached strategies; every answer measured and audited in one place
    knowledge.py  the reader and writer handles of the knowledge base; queries go on while a job writes
    jobs.py       background jobs (status, progress per phase, per-item errors), e.g. ingestion
    uploads.py    uploaded files: names, types and sizes checked, ingested by a job
    routes/       one module per area: ask, openai, documents (+ jobs), compare, audit, reports, ops

A new job kind submits its work to `state.jobs` (read back at GET /v1/jobs/{id}); compare runs have
their own queue, `state.compare_jobs`, so that a long run never holds up ingestion. A new router is
added to the tuple in `create_app`.
"""
