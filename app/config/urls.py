from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from shop.login_throttle import admin_login

urlpatterns = [
    path(settings.ADMIN_URL + "login/", admin_login, name="admin-login"),
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("shop.urls")),
]

handler500 = "shop.views.server_error"
