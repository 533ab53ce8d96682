"""A local emulator of the CRM's Contacts & Deals API, built from the CRM's own document."""
