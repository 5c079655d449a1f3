"""Choices shared by the ERP models, services and API."""

from django.db import models


class ProductKind(models.TextChoices):
    STOCKABLE = "stockable", "Stockable"
    CONSUMABLE = "consumable", "Consumable"
    SERVICE = "service", "Service"


class LocationKind(models.TextChoices):
    INTERNAL = "internal", "Internal"
    SUPPLIER = "supplier", "Supplier (virtual)"
    CUSTOMER = "customer", "Customer (virtual)"
    PRODUCTION = "production", "Production (virtual)"
    ADJUSTMENT = "adjustment", "Inventory adjustment (virtual)"


class MoveKind(models.TextChoices):
    RECEIPT = "receipt", "Receipt"
    DELIVERY = "delivery", "Delivery"
    TRANSFER = "transfer", "Internal transfer"
    ADJUSTMENT = "adjustment", "Adjustment"
    PRODUCTION_CONSUME = "production_consume", "Production: consume"
    PRODUCTION_PRODUCE = "production_produce", "Production: produce"


class SalesOrderState(models.TextChoices):
    DRAFT = "draft", "Draft"
    CONFIRMED = "confirmed", "Confirmed"
    PARTIALLY_DELIVERED = "partially_delivered", "Partially delivered"
    DELIVERED = "delivered", "Delivered"
    INVOICED = "invoiced", "Invoiced"
    PAID = "paid", "Paid"
    CANCELLED = "cancelled", "Cancelled"


class PurchaseOrderState(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    PARTIALLY_RECEIVED = "partially_received", "Partially received"
    RECEIVED = "received", "Received"
    BILLED = "billed", "Billed"
    PAID = "paid", "Paid"
    CANCELLED = "cancelled", "Cancelled"


class ProductionState(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class InvoiceKind(models.TextChoices):
    CUSTOMER = "customer", "Customer invoice"
    SUPPLIER = "supplier", "Supplier bill"


class InvoiceState(models.TextChoices):
    OPEN = "open", "Open"
    PAID = "paid", "Paid"


class AccountType(models.TextChoices):
    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    EQUITY = "equity", "Equity"
    INCOME = "income", "Income"
    EXPENSE = "expense", "Expense"


class EntrySource(models.TextChoices):
    MANUAL = "manual", "Manual"
    CUSTOMER_INVOICE = "customer_invoice", "Customer invoice"
    SUPPLIER_BILL = "supplier_bill", "Supplier bill"
    PAYMENT = "payment", "Payment"
    STOCK = "stock", "Stock valuation"
    PRODUCTION = "production", "Production"
    REVERSAL = "reversal", "Reversal"


class PaymentMethod(models.TextChoices):
    BANK = "bank", "Bank transfer"
    CASH = "cash", "Cash"
    CARD = "card", "Card"


class DashboardPeriod(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"
    QUARTER = "quarter", "Quarter"
    YEAR = "year", "Year"
