from django.urls import path

from . import api

urlpatterns = [
    path("products/", api.ProductList.as_view(), name="api-product-list"),
    path("products/<int:pk>/", api.ProductDetail.as_view(), name="api-product-detail"),
    path("cart/items/", api.CartItems.as_view(), name="api-cart-items"),
    path("orders/", api.Orders.as_view(), name="api-orders"),
]
