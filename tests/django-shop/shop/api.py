"""The JSON API under /api/, DRF as DRF teams write it: public product reads, and a cart and
orders behind SessionAuthentication, so an unsafe method of a logged-in user needs X-CSRFToken
(DRF's own 403 `{"detail": "CSRF Failed: CSRF token missing."}` without it)."""
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, filters, generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .cart import MAX_QUANTITY, Cart
from .models import Order, OrderItem, Product
from .orders import EmptyCart, OutOfStock, place_order


class ProductSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Product
        fields = ["id", "name", "slug", "category", "price", "stock"]


class CartItemInSerializer(serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)


class CartLineSerializer(serializers.Serializer):
    product = serializers.IntegerField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    price = serializers.IntegerField()
    subtotal = serializers.IntegerField()


class CartSerializer(serializers.Serializer):
    items = CartLineSerializer(many=True)
    total = serializers.IntegerField()


class OrderItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderItem
        fields = ["product", "quantity", "price"]


class OrderSerializer(serializers.ModelSerializer):
    items = OrderItemSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["id", "status", "total", "emailed", "created_at", "items"]


class CartEmpty(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "cart_empty"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def cart_body(cart):
    lines = [
        {"product": p.pk, "name": p.name, "quantity": q, "price": p.price, "subtotal": s}
        for p, q, s in cart.lines()
    ]
    return {"items": lines, "total": sum(line["subtotal"] for line in lines)}


class ProductList(generics.ListAPIView):
    queryset = Product.objects.select_related("category")
    serializer_class = ProductSerializer
    permission_classes = [AllowAny]
    filter_backends = [filters.SearchFilter]
    search_fields = ["name"]


class ProductDetail(generics.RetrieveAPIView):
    queryset = Product.objects.select_related("category")
    serializer_class = ProductSerializer
    permission_classes = [AllowAny]


class CartItems(APIView):
    @extend_schema(responses=CartSerializer)
    def get(self, request):
        return Response(cart_body(Cart(request.session)))

    @extend_schema(request=CartItemInSerializer, responses={201: CartSerializer})
    def post(self, request):
        item = CartItemInSerializer(data=request.data)
        item.is_valid(raise_exception=True)
        cart = Cart(request.session)
        cart.add(item.validated_data["product"], item.validated_data["quantity"])
        return Response(cart_body(cart), status=status.HTTP_201_CREATED)


class Orders(generics.ListAPIView):
    serializer_class = OrderSerializer

    def get_queryset(self):
        return Order.objects.filter(user=self.request.user).prefetch_related("items")

    @extend_schema(request=None, responses={201: OrderSerializer})
    def post(self, request):
        try:
            order = place_order(request.user, Cart(request.session))
        except EmptyCart as e:
            raise CartEmpty(str(e)) from e
        except OutOfStock as e:
            raise Conflict(str(e)) from e
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)
