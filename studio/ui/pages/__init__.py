"""The Streamlit pages, one module (or package) each; ``streamlit_app.py`` routes to them."""
