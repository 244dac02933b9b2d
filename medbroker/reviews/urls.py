"""URLs of the reviews app (namespace ``reviews``), one module per part of step ③."""

from medbroker.reviews.urls_bonus import urlpatterns as bonus_urls
from medbroker.reviews.urls_committee import urlpatterns as committee_urls
from medbroker.reviews.urls_ranking import urlpatterns as ranking_urls
from medbroker.reviews.urls_results import urlpatterns as results_urls
from medbroker.reviews.urls_reviewer import urlpatterns as reviewer_urls

app_name = "reviews"

urlpatterns = [*committee_urls, *reviewer_urls, *bonus_urls, *ranking_urls, *results_urls]
