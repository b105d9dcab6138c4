"""The HTML side: pages with links and forms, a search that can come back empty, the cart and an
HTML checkout that redirects to the order it made."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .cart import MAX_QUANTITY, Cart
from .models import Category, Order, Product
from .orders import EmptyCart, OutOfStock, place_order

SEARCH_LIMIT = 50


def home(request):
    return render(
        request,
        "shop/home.html",
        {
            "categories": Category.objects.all(),
            "products": Product.objects.select_related("category")[:20],
        },
    )


def product_list(request):
    q = request.GET.get("q", "").strip()
    category = request.GET.get("category", "").strip()
    products = Product.objects.select_related("category")
    if q:
        products = products.filter(name__icontains=q)
    if category:
        products = products.filter(category__slug=category)
    return render(
        request,
        "shop/product_list.html",
        {"products": products[:SEARCH_LIMIT], "q": q, "category": category},
    )


def product_detail(request, slug):
    product = get_object_or_404(Product.objects.select_related("category"), slug=slug)
    return render(request, "shop/product_detail.html", {"product": product})


@require_POST
def cart_add(request):
    try:
        product_id = int(request.POST["product"])
        quantity = int(request.POST.get("quantity", "1"))
    except (KeyError, ValueError):
        return HttpResponseBadRequest("product and quantity must be whole numbers")
    if not 1 <= quantity <= MAX_QUANTITY:
        return HttpResponseBadRequest(f"quantity must be between 1 and {MAX_QUANTITY}")
    product = get_object_or_404(Product, pk=product_id)
    Cart(request.session).add(product, quantity)
    messages.success(request, f"{product.name} added to your cart")
    return redirect("cart")


def cart_view(request):
    cart = Cart(request.session)
    return render(request, "shop/cart.html", {"lines": cart.lines(), "total": cart.total()})


@login_required
def checkout(request):
    cart = Cart(request.session)
    if request.method == "POST":
        try:
            order = place_order(request.user, cart)
        except EmptyCart as e:
            messages.error(request, str(e))
            return redirect("cart")
        except OutOfStock as e:
            context = {"lines": cart.lines(), "total": cart.total(), "error": str(e)}
            return render(request, "shop/checkout.html", context, status=409)
        return redirect("order-detail", order_id=order.pk)
    return render(request, "shop/checkout.html", {"lines": cart.lines(), "total": cart.total()})


@login_required
def order_detail(request, order_id):
    # Another user's order is as absent as one that does not exist: 404, never 403.
    order = get_object_or_404(Order, pk=order_id, user=request.user)
    items = order.items.select_related("product")
    return render(request, "shop/order_detail.html", {"order": order, "items": items})
