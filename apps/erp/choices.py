"""Choices shared by the ERP models, services and API."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ProductKind(models.TextChoices):
    STOCKABLE = "stockable", _("Stockable")
    CONSUMABLE = "consumable", _("Consumable")
    SERVICE = "service", _("Service")


class LocationKind(models.TextChoices):
    INTERNAL = "internal", _("Internal")
    SUPPLIER = "supplier", _("Supplier (virtual)")
    CUSTOMER = "customer", _("Customer (virtual)")
    PRODUCTION = "production", _("Production (virtual)")
    ADJUSTMENT = "adjustment", _("Inventory adjustment (virtual)")


class MoveKind(models.TextChoices):
    RECEIPT = "receipt", _("Receipt")
    DELIVERY = "delivery", _("Delivery")
    TRANSFER = "transfer", _("Internal transfer")
    ADJUSTMENT = "adjustment", _("Adjustment")
    PRODUCTION_CONSUME = "production_consume", _("Production: consume")
    PRODUCTION_PRODUCE = "production_produce", _("Production: produce")


class SalesOrderState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    CONFIRMED = "confirmed", _("Confirmed")
    PARTIALLY_DELIVERED = "partially_delivered", _("Partially delivered")
    DELIVERED = "delivered", _("Delivered")
    INVOICED = "invoiced", _("Invoiced")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")


class PurchaseOrderState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    APPROVED = "approved", _("Approved")
    PARTIALLY_RECEIVED = "partially_received", _("Partially received")
    RECEIVED = "received", _("Received")
    BILLED = "billed", _("Billed")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")


class ProductionState(models.TextChoices):
    PLANNED = "planned", _("Planned")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class InvoiceKind(models.TextChoices):
    CUSTOMER = "customer", _("Customer invoice")
    SUPPLIER = "supplier", _("Supplier bill")


class InvoiceState(models.TextChoices):
    OPEN = "open", _("Open")
    PAID = "paid", _("Paid")


class AccountType(models.TextChoices):
    ASSET = "asset", _("Asset")
    LIABILITY = "liability", _("Liability")
    EQUITY = "equity", _("Equity")
    INCOME = "income", _("Income")
    EXPENSE = "expense", _("Expense")


class EntrySource(models.TextChoices):
    MANUAL = "manual", _("Manual")
    CUSTOMER_INVOICE = "customer_invoice", _("Customer invoice")
    SUPPLIER_BILL = "supplier_bill", _("Supplier bill")
    PAYMENT = "payment", _("Payment")
    STOCK = "stock", _("Stock valuation")
    PRODUCTION = "production", _("Production")
    REVERSAL = "reversal", _("Reversal")


class PaymentMethod(models.TextChoices):
    BANK = "bank", _("Bank transfer")
    CASH = "cash", _("Cash")
    CARD = "card", _("Card")


class DashboardPeriod(models.TextChoices):
    DAY = "day", _("Day")
    WEEK = "week", _("Week")
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")
    YEAR = "year", _("Year")
