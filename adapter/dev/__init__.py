"""`adapter dev`: the whole pipeline in one process, for trying it out and developing.

`stack.DevStack` starts Redis (`redis`), the CRM sandbox and the web app (`servers`)
and a delivery worker with the dev settings (`config`); `banner` says where they are,
`demo` sends samples through them and shows what reached the CRM.
"""
