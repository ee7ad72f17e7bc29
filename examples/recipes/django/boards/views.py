"""Taskboard's views. The server tracks what only it knows for sure (an account created, a
project saved) with the ``posthog`` SDK; the browser tracks page views and clicks."""

import posthog
from django.contrib.auth import authenticate, get_user_model, login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from boards.models import Project


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "boards/home.html")


def signup(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "boards/signup.html")
    email = request.POST["email"].strip().lower()
    users = get_user_model().objects
    if users.filter(username=email).exists():
        error = "That email already has an account."
        return render(request, "boards/signup.html", {"error": error}, status=409)
    user = users.create_user(username=email, email=email, password=request.POST["password"])
    login(request, user)
    # The request began anonymous: from here on, this request's events are the new user's
    # (the middleware does this itself for requests of a logged-in user).
    posthog.identify_context(str(user.pk))
    posthog.capture("user_signed_up", properties={"$set": {"email": email, "plan": "free"}})
    return redirect("projects")


def login_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "boards/login.html")
    user = authenticate(request, username=request.POST["email"], password=request.POST["password"])
    if user is None:
        error = "Wrong email or password."
        return render(request, "boards/login.html", {"error": error}, status=401)
    login(request, user)
    posthog.identify_context(str(user.pk))
    posthog.capture("user_logged_in")
    return redirect("projects")


@login_required
def projects(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        project = Project.objects.create(owner=request.user, name=request.POST["name"])
        # No distinct_id: PosthogContextMiddleware put the logged-in user's id in the context.
        posthog.capture(
            "project_created",
            properties={"project_id": project.pk, "$set": {"has_projects": True}},
        )
        return redirect("projects")
    mine = Project.objects.filter(owner=request.user).order_by("created_at")
    return render(request, "boards/projects.html", {"projects": mine})
