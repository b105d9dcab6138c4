"""The cart, kept in the session (`request.session["cart"]`: product id -> quantity), as small
Django shops keep it: no table, gone with the session."""
from .models import Product

SESSION_KEY = "cart"
MAX_QUANTITY = 99


class Cart:
    def __init__(self, session):
        self.session = session
        self.quantities = session.get(SESSION_KEY, {})

    def add(self, product, quantity):
        key = str(product.pk)
        self.quantities[key] = min(self.quantities.get(key, 0) + quantity, MAX_QUANTITY)
        self._save()

    def clear(self):
        self.quantities = {}
        self._save()

    def lines(self):
        """(product, quantity, subtotal) in product order; products deleted since are left out."""
        products = Product.objects.in_bulk([int(k) for k in self.quantities])
        return [
            (product, self.quantities[str(pk)], product.price * self.quantities[str(pk)])
            for pk, product in sorted(products.items())
        ]

    def total(self):
        return sum(subtotal for _, _, subtotal in self.lines())

    def __len__(self):
        return sum(self.quantities.values())

    def _save(self):
        self.session[SESSION_KEY] = self.quantities
        self.session.modified = True
