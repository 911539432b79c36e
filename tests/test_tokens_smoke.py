import pytest

from fiko_billing import tokens


@pytest.mark.django_db
def test_credit_then_consume(subscriber):
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    tokens.consume(subscriber, 30)
    assert tokens.balance(subscriber) == 70
    r = tokens.reserve(subscriber, 50)
    assert tokens.balance(subscriber) == 20
    r.settle(10)
    assert tokens.balance(subscriber) == 60
    with pytest.raises(tokens.InsufficientTokens):
        tokens.consume(subscriber, 61)
    tokens.revoke(subscriber, 100, reference="re_1", grant_reference="cs_1")
    assert tokens.balance(subscriber) == -40
