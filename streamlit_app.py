"""Latent Studio in the browser: ``streamlit run streamlit_app.py``.

``streamlit run`` finds ``app`` below and serves it: every browser session runs
``studio/ui/main.py`` (page config and navigation), and the server warms the studio up as it
starts (``studio.ui.warm_up``), so the first picture does not wait for torch's import.
"""

from pathlib import Path

import streamlit as st

from studio.ui import warm_up

app = st.App(Path(__file__).parent / "studio" / "ui" / "main.py", lifespan=warm_up.lifespan)
