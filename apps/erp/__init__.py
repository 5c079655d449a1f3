"""ERP: Master data, inventory ledger, sales, purchasing, production and double-entry finance."""
