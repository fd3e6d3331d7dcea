"""A browser session's script (``streamlit_app.py`` serves it).

It reads as a short story: configure the page, route to the pages in ``studio/ui/pages``.
The first page is imported at once, the others when they first run, so the first picture waits
for nothing it does not need.
"""

from pathlib import Path

import streamlit as st

from studio.ui import app_state, warm_up
from studio.ui.app_state import opened_later

app_state.hold_collector()  # until the first page has drawn (see freeze_startup_heap)
warm_up.wait_for_imports()

from studio.ui.pages import explore  # noqa: E402  (imports torch: after the hold)

# The icon is mlp-prism's seed 0, drawn here (an emoji costs a tenth of a second of imports, a
# Material icon a request to Google's fonts).
ICON = Path(__file__).parent / "favicon.png"
st.set_page_config(page_title="Latent Studio", page_icon=ICON, layout="wide")

pages = [
    st.Page(
        explore.page,
        title="Explore",
        icon=":material/explore:",
        url_path=explore.URL_PATH,
        default=True,
    ),
    st.Page(
        opened_later("studio.ui.pages.train"),
        title="Train",
        icon=":material/model_training:",
        url_path="train",
    ),
    st.Page(
        opened_later("studio.ui.pages.classroom"),
        title="Classroom",
        icon=":material/school:",
        url_path="classroom",
    ),
    st.Page(
        opened_later("studio.ui.pages.gallery"),
        title="Gallery",
        icon=":material/photo_library:",
        url_path="gallery",
    ),
]
st.navigation(pages).run()
app_state.freeze_startup_heap()  # after the page: the first picture need not wait for it
