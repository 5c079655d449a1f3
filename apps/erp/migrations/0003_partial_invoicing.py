"""Orders invoiced (billed) in parts: invoiced/billed and cancelled quantities per order line, and invoice lines that
name the order line they bill. Orders invoiced before this change were invoiced in full: their lines are marked
invoiced up to what was delivered (received), and each invoice line is linked to the order line it was copied from
(same position on the order)."""

import django.db.models.deletion
import django.db.models.expressions
from decimal import Decimal
from django.db import migrations, models


BACKFILL = """
UPDATE erp_salesorderline AS line SET quantity_invoiced = line.quantity_delivered
 WHERE EXISTS (SELECT 1 FROM erp_invoice AS inv WHERE inv.sales_order_id = line.order_id);

UPDATE erp_purchaseorderline AS line SET quantity_billed = line.quantity_received
 WHERE EXISTS (SELECT 1 FROM erp_invoice AS inv WHERE inv.purchase_order_id = line.order_id);

WITH order_lines AS (
    SELECT id, order_id, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY id) AS position
      FROM erp_salesorderline
), invoice_lines AS (
    SELECT il.id, inv.sales_order_id AS order_id,
           ROW_NUMBER() OVER (PARTITION BY il.invoice_id ORDER BY il.id) AS position
      FROM erp_invoiceline AS il JOIN erp_invoice AS inv ON inv.id = il.invoice_id
     WHERE inv.sales_order_id IS NOT NULL
)
UPDATE erp_invoiceline AS target SET sales_order_line_id = order_lines.id
  FROM invoice_lines JOIN order_lines
    ON order_lines.order_id = invoice_lines.order_id AND order_lines.position = invoice_lines.position
 WHERE target.id = invoice_lines.id;

WITH order_lines AS (
    SELECT id, order_id, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY id) AS position
      FROM erp_purchaseorderline
), invoice_lines AS (
    SELECT il.id, inv.purchase_order_id AS order_id,
           ROW_NUMBER() OVER (PARTITION BY il.invoice_id ORDER BY il.id) AS position
      FROM erp_invoiceline AS il JOIN erp_invoice AS inv ON inv.id = il.invoice_id
     WHERE inv.purchase_order_id IS NOT NULL
)
UPDATE erp_invoiceline AS target SET purchase_order_line_id = order_lines.id
  FROM invoice_lines JOIN order_lines
    ON order_lines.order_id = invoice_lines.order_id AND order_lines.position = invoice_lines.position
 WHERE target.id = invoice_lines.id;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('erp', '0002_ledger_sales_purchasing_finance'),
    ]

    operations = [
        migrations.AddField(
            model_name='invoiceline',
            name='purchase_order_line',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='invoice_lines', to='erp.purchaseorderline'),
        ),
        migrations.AddField(
            model_name='invoiceline',
            name='sales_order_line',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='invoice_lines', to='erp.salesorderline'),
        ),
        migrations.AddField(
            model_name='purchaseorderline',
            name='quantity_billed',
            field=models.DecimalField(decimal_places=3, default=Decimal('0'), max_digits=14),
        ),
        migrations.AddField(
            model_name='purchaseorderline',
            name='quantity_cancelled',
            field=models.DecimalField(decimal_places=3, default=Decimal('0'), max_digits=14),
        ),
        migrations.AddField(
            model_name='salesorderline',
            name='quantity_cancelled',
            field=models.DecimalField(decimal_places=3, default=Decimal('0'), max_digits=14),
        ),
        migrations.AddField(
            model_name='salesorderline',
            name='quantity_invoiced',
            field=models.DecimalField(decimal_places=3, default=Decimal('0'), max_digits=14),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name='purchaseorderline',
            constraint=models.CheckConstraint(condition=models.Q(('quantity_billed__gte', 0), ('quantity_billed__lte', models.F('quantity_received'))), name='erp_po_line_billed_within_received'),
        ),
        migrations.AddConstraint(
            model_name='purchaseorderline',
            constraint=models.CheckConstraint(condition=models.Q(('quantity_cancelled__gte', 0), ('quantity_cancelled__lte', django.db.models.expressions.CombinedExpression(models.F('quantity'), '-', models.F('quantity_received')))), name='erp_po_line_cancelled_within_open'),
        ),
        migrations.AddConstraint(
            model_name='salesorderline',
            constraint=models.CheckConstraint(condition=models.Q(('quantity_invoiced__gte', 0), ('quantity_invoiced__lte', models.F('quantity_delivered'))), name='erp_so_line_invoiced_within_delivered'),
        ),
        migrations.AddConstraint(
            model_name='salesorderline',
            constraint=models.CheckConstraint(condition=models.Q(('quantity_cancelled__gte', 0), ('quantity_cancelled__lte', django.db.models.expressions.CombinedExpression(models.F('quantity'), '-', models.F('quantity_delivered')))), name='erp_so_line_cancelled_within_open'),
        ),
    ]
