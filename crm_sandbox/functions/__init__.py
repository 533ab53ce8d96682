"""The CRM's own functions: create-lead, the bulk endpoints and search-contacts."""
