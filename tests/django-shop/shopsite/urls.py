"""The URL map: Django's own login and logout, the shop's pages, the API, its schema, /metrics."""
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/", include("shop.api_urls")),
    # django-prometheus' exposition at /metrics.
    path("", include("django_prometheus.urls")),
    path("", include("shop.urls")),
]
