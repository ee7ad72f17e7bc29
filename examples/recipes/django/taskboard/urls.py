from boards import views
from django.urls import path

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.login_view, name="login"),
    path("projects/", views.projects, name="projects"),
]
