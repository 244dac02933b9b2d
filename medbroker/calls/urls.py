"""URLs of the calls app: public call pages, the company's consultations and applications, the console."""

from medbroker.calls.urls_applications import urlpatterns as application_urls
from medbroker.calls.urls_consultations import urlpatterns as consultation_urls

app_name = "calls"

urlpatterns = [*consultation_urls, *application_urls]
