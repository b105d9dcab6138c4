"""Placing an order from a cart: the one place stock changes.

One transaction: the cart's products are locked (`select_for_update`, in id order so two
checkouts never wait on each other in a cycle), every quantity checked against the stock, the
order and its items written, the stock taken. The e-mail is queued only once the transaction has
committed, so a worker never looks for an order that is not there yet.
"""
from django.db import transaction

from .models import Order, OrderItem, Product
from .tasks import send_order_email


class EmptyCart(Exception):
    pass


class OutOfStock(Exception):
    def __init__(self, names):
        super().__init__(f"Not enough stock for {', '.join(names)}")


def place_order(user, cart):
    quantities = {int(k): q for k, q in cart.quantities.items()}
    if not quantities:
        raise EmptyCart("Your cart is empty")
    with transaction.atomic():
        products = list(
            Product.objects.select_for_update().filter(pk__in=quantities).order_by("pk")
        )
        short = [p.name for p in products if p.stock < quantities[p.pk]]
        if short:
            raise OutOfStock(short)
        if not products:
            raise EmptyCart("Your cart is empty")
        order = Order.objects.create(
            user=user, total=sum(p.price * quantities[p.pk] for p in products)
        )
        OrderItem.objects.bulk_create(
            OrderItem(order=order, product=p, quantity=quantities[p.pk], price=p.price)
            for p in products
        )
        for p in products:
            p.stock -= quantities[p.pk]
            p.save(update_fields=["stock"])
        transaction.on_commit(lambda: send_order_email.delay(order.pk))
    cart.clear()
    return order
