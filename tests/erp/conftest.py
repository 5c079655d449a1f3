import pytest

from apps.erp.reference import reference_data_ensure


@pytest.fixture(autouse=True)
def erp_reference_data(db):
    """The seeded reference data (restored when a transactional test elsewhere flushed the database)."""
    reference_data_ensure()
