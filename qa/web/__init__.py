"""The web chat (`qa serve`): a Gradio shell over the Python API. render.py turns Answers into escaped HTML;
app.py holds the Gradio app; library.py the index it answers from and feedback; uploads.py what an upload may become; login.py the login lockout."""

from qa.web.app import build_app, serve
from qa.web.library import Library, save_feedback
from qa.web.render import passage_html, status_html
from qa.web.uploads import save_upload

__all__ = ["Library", "build_app", "passage_html", "save_feedback", "save_upload", "serve", "status_html"]
