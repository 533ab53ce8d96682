"""What `adapter dev` prints once everything runs: where things are, the dev secrets,
and commands to paste into another terminal."""

from __future__ import annotations

import shlex

from adapter.dev import config
from adapter.dev.stack import DevStack

SEND_HEADING = "Send a signed sample order (paste into another terminal):"


def send_command(source: str = "shopify") -> str:
    """The `adapter send-test` line that posts a signed sample to this dev mode: a second
    terminal finds the dev mode through its state file."""
    return shlex.join(["adapter", "send-test", "--source", source])


def crm_command(base_url: str, api_key: str, table: str, select: str) -> str:
    url = f"{base_url}/rest-api-proxy/{table}?select={select}"
    return f"curl -s {shlex.quote(url)} -H {shlex.quote('X-API-Key: ' + api_key)}"


def render(stack: DevStack) -> str:
    assert stack.redis is not None
    assert stack.crm is not None
    web, crm = stack.web_url, stack.crm
    # a real CRM's key stays out of the terminal: the user has it in CRM_API_KEY
    key = crm.api_key if crm.embedded else "$CRM_API_KEY"
    crm_where = "sandbox in this process" if crm.embedded else "from CRM_BASE_URL"
    lines = [
        "crm-adapter dev mode: web app, worker, Redis and CRM in one process. Ctrl-C stops it.",
        "",
        f"  web app      {web}",
        f"  redis        {stack.redis.url}  ({stack.redis.description})",
        f"  CRM          {crm.base_url}  ({crm_where})",
        "",
        "Webhook URLs:",
        f"  Shopify      {web}/webhooks/shopify",
        f"  Stripe       {web}/webhooks/stripe",
        f"  Form         {web}/webhooks/forms/{config.FORM_ID}",
        "",
        "Dev secrets (fixed and public: for this dev mode only, never in production):",
        f"  Shopify      {config.SHOPIFY_SECRET}",
        f"  Stripe       {config.STRIPE_SECRET}",
        f"  Form         {config.FORM_SECRET}  (HMAC-SHA256 of the body in X-Signature)",
        "",
        SEND_HEADING,
        f"  {send_command()}",
        "  (--source stripe or --source form for the others; --print-curl for a curl command)",
        "",
        f"Status page:   {web}/status?token={stack.admin_token}",
        "Other terminals find this dev mode by themselves: adapter status, adapter deadletter",
        f"list, adapter send-test (it is described in {stack.state_file}).",
        "",
        "Then look at the CRM:",
        f"  {crm_command(crm.base_url, key, 'deals', 'title,value,currency,stage')}",
        f"  {crm_command(crm.base_url, key, 'contacts', 'first_name,last_name,emails,phones')}",
        "",
    ]
    return "\n".join(lines)
