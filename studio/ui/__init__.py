"""Streamlit pages and components. Only this package (and streamlit_app.py) imports Streamlit."""
