"""`manage.py seed_shop --products N --users N`: the catalogue and the load test's accounts.

Idempotent: products are matched by slug (their stock set again), users by username (left as
they are). Users are `load_test_user_0..N-1` with the password `load_test_password`, hashed by
Django's own `make_password` once and shared by every new row: one PBKDF2 run (about a second
at Django's iteration count) instead of one per user, so thousands are seeded in seconds.
"""
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction

from shop.models import Category, Product

CATEGORIES = ["Books", "Electronics", "Food", "Garden", "Toys"]
USERNAME = "load_test_user_{}"
PASSWORD = "load_test_password"


class Command(BaseCommand):
    help = "Creates the shop's categories, products with stock, and load_test_user_N accounts."

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=20)
        parser.add_argument("--users", type=int, default=10)
        parser.add_argument("--stock", type=int, default=1000, help="each product's stock")

    @transaction.atomic
    def handle(self, *args, products, users, stock, **options):
        categories = [
            Category.objects.get_or_create(slug=name.lower(), defaults={"name": name})[0]
            for name in CATEGORIES
        ]
        for i in range(products):
            Product.objects.update_or_create(
                slug=f"product-{i}",
                defaults={
                    "name": f"Product {i}",
                    "category": categories[i % len(categories)],
                    "description": f"The {i}th product of the test shop.",
                    # Whole KRW, 1,000 to 100,000, the same for the same i.
                    "price": 1000 + (i * 7919) % 100 * 1000,
                    "stock": stock,
                },
            )
        User = get_user_model()
        wanted = [USERNAME.format(i) for i in range(users)]
        existing = set(User.objects.filter(username__in=wanted).values_list("username", flat=True))
        missing = [name for name in wanted if name not in existing]
        if missing:
            password = make_password(PASSWORD)
            User.objects.bulk_create(
                User(username=name, email=f"{name}@example.com", password=password)
                for name in missing
            )
        self.stdout.write(
            f"seeded {products} products in {len(categories)} categories (stock {stock} each), "
            f"{users} users ({len(missing)} new)"
        )
