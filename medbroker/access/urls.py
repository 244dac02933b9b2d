"""URLs of the access app (namespace ``access``): grants and online use, and the closed learning room."""

from medbroker.access.urls_grants import urlpatterns as grant_urls
from medbroker.access.urls_rooms import urlpatterns as room_urls

app_name = "access"

urlpatterns = [*grant_urls, *room_urls]
