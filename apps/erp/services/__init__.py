"""ERP write services, one module per area. Import from the modules (``apps.erp.services.sales`` ...)."""
