"""crm-adapter: Shopify, Stripe and form webhooks into CRM contacts, deals and leads."""

__version__ = "0.1.0"
