"""The pages: one layout with navigation; each page is a template and a script calling /api."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from cvat_bridge import __version__
from cvat_bridge.limits import MAX_NAME_LENGTH
from cvat_bridge.setting_fields import setting_fields
from trainer.config import TrainSettings

WEB_DIR = Path(__file__).parent
templates = Jinja2Templates(directory=WEB_DIR / "templates")

# path -> (template, navigation title); the order is the navigation's.
PAGES = {
    "/collections": ("collections.html", "Collections"),
    "/train": ("train.html", "Train"),
    "/models": ("models.html", "Models"),
    "/inference": ("inference.html", "Inference"),
    "/loops": ("loops.html", "Loops"),
}
# Pages reached by links (not in the navigation): path -> (template, the navigation entry they belong to).
LINKED_PAGES = {
    "/collections/{collection_id}": ("collection.html", "Collections"),  # its images, report files
    "/compare": ("compare.html", "Models"),  # two models side by side
}

# The Train page's advanced settings: every TrainSettings field, with its default, bounds and description.
TRAIN_SETTINGS = setting_fields(TrainSettings)


def mount_pages(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/collections")

    for path, (template, title) in {**PAGES, **LINKED_PAGES}.items():
        app.add_api_route(
            path,
            _page(template, title),
            methods=["GET"],
            response_class=HTMLResponse,
            include_in_schema=False,
        )


def _page(template: str, title: str):
    def render(request: Request) -> HTMLResponse:
        nav = [(path, name) for path, (_, name) in PAGES.items()]
        return templates.TemplateResponse(
            request,
            template,
            {
                "title": title,
                "nav": nav,
                "version": __version__,
                "max_name_length": MAX_NAME_LENGTH,
                "train_settings": TRAIN_SETTINGS,
            },
        )

    return render
