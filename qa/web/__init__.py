"""The web chat (`qa serve`): a Gradio shell over the Python API. render.py turns Answers into escaped HTML;
app.py holds the Gradio app, uploads and feedback."""

from qa.web.app import Library, build_app, save_feedback, save_upload, serve
from qa.web.render import passage_html, status_html

__all__ = ["Library", "build_app", "passage_html", "save_feedback", "save_upload", "serve", "status_html"]
