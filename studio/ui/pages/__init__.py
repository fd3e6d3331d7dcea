"""The Streamlit pages, one module (or package) each; ``studio/ui/main.py`` routes to them."""
